/* Search page: probe photo + case + reason + scope in; thumbnails, a timeline and the trajectory on the map out. */
"use strict";

(() => {
  const { el } = CW;
  const form = document.getElementById("search-form");
  const zone = document.getElementById("probe-zone");
  const preview = document.getElementById("probe-preview");
  const errors = document.getElementById("search-errors");
  const maxDays = (window.CW_SEARCH && window.CW_SEARCH.maxWindowDays) || 31;
  let probe = null;
  let trajMap = null;
  let knownCases = new Set();

  // --- form -------------------------------------------------------------------

  CW.dropzone(
    zone,
    (files) => {
      if (!files.length) return;
      probe = files[0];
      const url = URL.createObjectURL(probe);
      const change = el("button", { class: "btn small", type: "button" }, "Change photo");
      change.addEventListener("click", () => zone.querySelector("input").click());
      preview.replaceChildren(el("img", { src: url, alt: "probe photo" }), el("div", {}, el("strong", {}, probe.name), el("div", { class: "small muted" }, Math.round(probe.size / 1024) + " KB"), change));
      preview.classList.remove("hidden");
      zone.classList.add("hidden");
    },
    { multiple: false },
  );

  const now = new Date();
  document.getElementById("until").value = CW.localInput(now);
  document.getElementById("since").value = CW.localInput(new Date(now.getTime() - (maxDays - 1) * 86400000));

  async function loadScope() {
    const box = document.getElementById("cameras");
    try {
      const cams = await CW.api("/api/cameras");
      box.replaceChildren(...cams.map((c) => el("label", {}, el("input", { type: "checkbox", name: "cameras", value: c.name }), c.name)));
      if (!cams.length) box.append(el("span", { class: "muted small" }, "no cameras visible to you"));
    } catch (err) {
      box.replaceChildren();
      CW.errorBox(box, err, "Cameras could not be loaded");
    }
    try {
      const cases = await CW.api("/api/cases");
      knownCases = new Set(cases.map((c) => c.case_ref));
      document.getElementById("case-list").replaceChildren(...cases.map((c) => el("option", { value: c.case_ref }, c.title || "")));
    } catch (err) {
      /* a role without cases.manage may still search known cases by typing them */
    }
  }

  document.getElementById("new-case-btn").addEventListener("click", () => {
    document.getElementById("new-case").classList.toggle("hidden");
    document.getElementById("case-title").focus();
  });
  document.getElementById("create-case").addEventListener("click", async () => {
    const ref = document.getElementById("case").value.trim();
    const title = document.getElementById("case-title").value.trim();
    if (!ref || !title) {
      CW.toast("Give the new case a reference (above) and a title.");
      return;
    }
    try {
      await CW.api("/api/cases", { json: { case_ref: ref, title } });
      knownCases.add(ref);
      document.getElementById("case-list").append(el("option", { value: ref }, title));
      document.getElementById("new-case").classList.add("hidden");
      CW.toast("Case " + ref + " created.", "ok");
    } catch (err) {
      CW.errorBox(errors, err, "The case was not created");
    }
  });

  function problems() {
    const out = [];
    if (!probe) out.push("Choose a probe photo.");
    if (!form.case.value.trim()) out.push("Give the case reference this search belongs to.");
    if (!form.reason.value.trim()) out.push("Say why this search is necessary.");
    const since = form.since.value ? new Date(form.since.value) : null;
    const until = form.until.value ? new Date(form.until.value) : null;
    if (!since || !until) out.push("Give both 'since' and 'until': a search must cover a bounded window.");
    else if (since >= until) out.push("'Since' must be before 'until'.");
    else if (until - since > maxDays * 86400000) out.push("The window is longer than " + maxDays + " days.");
    return out;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errors.replaceChildren();
    const bad = problems();
    if (bad.length) {
      errors.append(el("div", { class: "error-box", role: "alert" }, "Before searching:", el("ul", {}, ...bad.map((b) => el("li", {}, b)))));
      return;
    }
    const fd = new FormData();
    fd.append("photo", probe, probe.name);
    fd.append("case", form.case.value.trim());
    fd.append("reason", form.reason.value.trim());
    form.querySelectorAll("input[name=cameras]:checked").forEach((c) => fd.append("cameras", c.value));
    fd.append("since", CW.fromLocalInput(form.since.value));
    fd.append("until", CW.fromLocalInput(form.until.value));
    const btn = document.getElementById("search-submit");
    btn.disabled = true;
    btn.textContent = "Searching…";
    try {
      const res = await CW.api("/api/search", { form: fd });
      show(res);
    } catch (err) {
      const hint = err.status === 404 && !knownCases.has(form.case.value.trim()) ? " (Create the case first with 'New case…'.)" : "";
      errors.append(el("div", { class: "error-box", role: "alert" }, "The search did not run: " + err.message + hint));
    } finally {
      btn.disabled = false;
      btn.textContent = "Search";
    }
  });

  // --- results ----------------------------------------------------------------

  function hitCard(h) {
    return el(
      "div",
      { class: "thumb" + (h.above_threshold ? " above" : ""), dataset: { sighting: h.sighting_id, camera: h.camera }, title: "sighting " + h.sighting_id },
      CW.face(h.thumbnail_url, "sighting " + h.sighting_id),
      el("span", { class: "rank" }, "#" + h.rank),
      h.above_threshold ? el("span", { class: "badge chip warn" }, "match") : null,
      el(
        "div",
        { class: "cap" },
        el("div", { class: "line1" }, el("span", {}, h.camera), el("span", { class: "mono" }, CW.num(h.score, 2))),
        el("div", { class: "line2" }, CW.time(h.start)),
      ),
    );
  }

  function show(res) {
    document.getElementById("results-empty").classList.add("hidden");
    document.getElementById("results-body").classList.remove("hidden");
    const above = res.hits.filter((h) => h.above_threshold).length;
    document.getElementById("result-summary").textContent =
      "case " + res.case + " · " + res.hits.length + " sighting(s), " + above + " at or above the threshold " + CW.num(res.threshold, 2) + " · " + res.trajectory.length + " stop(s)";
    document.getElementById("hit-count").textContent = res.hits.length + " ranked by similarity";
    const grid = document.getElementById("hits");
    grid.replaceChildren();
    if (!res.hits.length) grid.append(el("div", { class: "empty" }, "No sightings in this window look like the probe."));
    res.hits.forEach((h) => grid.append(hitCard(h)));
    grid.querySelectorAll(".thumb").forEach((t) =>
      t.addEventListener("click", () => {
        grid.querySelectorAll(".thumb.selected").forEach((x) => x.classList.remove("selected"));
        t.classList.add("selected");
        if (trajMap) trajMap.highlight(t.dataset.camera);
      }),
    );
    drawMap(res);
    drawTimeline(res);
  }

  async function drawMap(res) {
    const node = document.getElementById("traj-map");
    if (!trajMap) trajMap = CWMap.create(node);
    if (!trajMap) return;
    let cams = [];
    try {
      cams = await CW.api("/api/cameras");
    } catch (err) {
      cams = [];
    }
    trajMap.setCameras(cams);
    const drawn = trajMap.drawTrajectory(res.trajectory);
    trajMap.map.invalidateSize();
    trajMap.fit(50);
    document.getElementById("result-title").textContent = drawn ? "Trajectory: " + drawn + " stop(s)" : "Trajectory: no stop at or above the threshold";
  }

  // Swimlane timeline: one lane per camera, dots for hits, the path through the trajectory stops.
  function drawTimeline(res) {
    const box = document.getElementById("timeline");
    box.replaceChildren();
    const hits = res.hits;
    if (!hits.length) {
      box.append(el("div", { class: "empty" }, "Nothing to place on a timeline."));
      return;
    }
    const NS = "http://www.w3.org/2000/svg";
    const svg = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      return n;
    };
    const order = [];
    res.trajectory.forEach((s) => order.includes(s.camera) || order.push(s.camera));
    hits.forEach((h) => order.includes(h.camera) || order.push(h.camera));
    const t = (iso) => new Date(iso).getTime();
    let t0 = Math.min(...hits.map((h) => t(h.start)));
    let t1 = Math.max(...hits.map((h) => t(h.end || h.start)));
    if (t1 - t0 < 60000) {
      t0 -= 30000;
      t1 += 30000;
    }
    const pad = (t1 - t0) * 0.04;
    t0 -= pad;
    t1 += pad;
    const W = 1000;
    const left = 110;
    const right = 20;
    const lane = 40;
    const top = 12;
    const H = top + order.length * lane + 30;
    const x = (ms) => left + ((ms - t0) / (t1 - t0)) * (W - left - right);
    const y = (cam) => top + order.indexOf(cam) * lane + lane / 2;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "timeline of sightings per camera" });
    order.forEach((cam, i) => {
      root.append(svg("rect", { x: left, y: top + i * lane + 3, width: W - left - right, height: lane - 6, rx: 6, fill: i % 2 ? "#f7f9fa" : "#f0f4f7" }));
      root.append(svg("text", { x: left - 10, y: y(cam) + 4, "text-anchor": "end", class: "lane-label" }, cam));
    });
    const ticks = 5;
    for (let i = 0; i <= ticks; i++) {
      const ms = t0 + ((t1 - t0) * i) / ticks;
      const xx = x(ms);
      root.append(svg("line", { x1: xx, x2: xx, y1: top, y2: H - 24, stroke: "#dfe4ea", "stroke-dasharray": "3 4" }));
      const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
      root.append(svg("text", { x: xx, y: H - 8, "text-anchor": anchor }, CW.time(new Date(ms).toISOString())));
    }
    // hits at the same camera and moment (several people in one clip) sit one above the other
    const slots = new Map();
    const slotOf = (h) => h.camera + "|" + Math.round(x(t(h.start)) / 8);
    hits.forEach((h) => slots.set(slotOf(h), (slots.get(slotOf(h)) || 0) + 1));
    const used = new Map();
    const offset = new Map();
    hits
      .slice()
      .sort((a, b) => b.score - a.score)
      .forEach((h) => {
        const n = slots.get(slotOf(h));
        const k = used.get(slotOf(h)) || 0;
        used.set(slotOf(h), k + 1);
        offset.set(h.sighting_id, n > 1 ? (k - (n - 1) / 2) * Math.min(9, (lane - 10) / n) : 0);
      });
    const stopY = (s) => y(s.camera) + (offset.get(s.sighting_id) || 0);
    if (res.trajectory.length > 1) {
      const d = res.trajectory.map((s, i) => (i ? "L" : "M") + x((t(s.start) + t(s.end || s.start)) / 2).toFixed(1) + " " + stopY(s)).join(" ");
      root.append(svg("path", { d, fill: "none", stroke: "#a8660c", "stroke-width": 2.5, "stroke-dasharray": "7 5", opacity: 0.85 }));
    }
    hits
      .slice()
      .sort((a, b) => a.score - b.score)
      .forEach((h) => {
        const off = offset.get(h.sighting_id) || 0;
        const xs = x(t(h.start));
        const xe = Math.max(xs, x(t(h.end || h.start)));
        const r = 3 + 4 * Math.max(0, Math.min(1, h.score));
        if (xe - xs > 2) root.append(svg("rect", { x: xs, y: y(h.camera) + off - 3, width: xe - xs, height: 6, rx: 3, fill: h.above_threshold ? "#e8c27a" : "#d5dbe1" }));
        const c = svg("circle", {
          cx: (xs + xe) / 2,
          cy: y(h.camera) + off,
          r,
          fill: h.above_threshold ? "#a8660c" : "#ffffff",
          stroke: h.above_threshold ? "#ffffff" : "#8a95a3",
          "stroke-width": 2,
        });
        c.append(svg("title", {}, h.camera + " · " + CW.time(h.start) + " · score " + CW.num(h.score, 3)));
        root.append(c);
      });
    res.trajectory.forEach((s, i) => {
      root.append(svg("text", { x: x((t(s.start) + t(s.end || s.start)) / 2) - 11, y: stopY(s) + 4, "text-anchor": "end", "font-weight": 700, fill: "#1d2733" }, String(i + 1)));
    });
    box.append(root);
  }

  loadScope();
})();
