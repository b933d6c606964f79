/* Map page: cameras as markers; a camera's recent sightings in the side panel. */
"use strict";

(() => {
  const { el } = CW;
  const node = document.getElementById("map");
  const list = document.getElementById("cam-list");
  const side = document.getElementById("side-camera");
  const m = CWMap.create(node);
  let cameras = [];
  let selected = null;

  function healthOf(c) {
    return !c.enabled ? "off" : (c.health && c.health.state) || "no worker";
  }

  function sightingThumb(s) {
    const matched = s.matched || s.identity;
    return el(
      "div",
      { class: "thumb" + (matched ? " above" : ""), title: "sighting " + s.id },
      CW.face(s.thumbnail_url, "sighting " + s.id),
      matched ? el("span", { class: "badge chip warn" }, s.identity || "match") : null,
      el(
        "div",
        { class: "cap" },
        el("div", { class: "line1" }, el("span", {}, CW.time(s.start)), el("span", { class: "mono" }, s.score != null ? CW.num(s.score, 2) : "")),
        el("div", { class: "line2" }, "quality " + CW.num(s.quality, 2) + " · " + s.detections + " frames"),
      ),
    );
  }

  async function select(c) {
    selected = c.name;
    if (m) m.highlight(c.name);
    list.querySelectorAll("li").forEach((li) => li.classList.toggle("selected", li.dataset.camera === c.name));
    history.replaceState(null, "", "/map?camera=" + encodeURIComponent(c.name));
    const h = c.health || {};
    const grid = el("div", { class: "thumbs", id: "sightings" }, el("div", { class: "empty" }, "Loading sightings…"));
    const back = el("button", { class: "btn small", type: "button" }, "← All cameras");
    back.addEventListener("click", () => {
      side.classList.add("hidden");
      document.getElementById("side-cameras").classList.remove("hidden");
      selected = null;
      if (m) m.highlight(null);
    });
    const frame = h.last_frame_at && c.frame_url ? CW.face(c.frame_url + "?t=" + Date.now(), "latest frame of " + c.name) : null;
    if (frame) frame.style.cssText = "width:100%;aspect-ratio:16/9;margin:0.5rem 0";
    const parts = [
      el("div", { class: "panel-head" }, el("h2", {}, c.name), back),
      el("p", { class: "muted small" }, (c.location || "no location text") + (c.lat != null ? " · " + c.lat.toFixed(5) + ", " + c.lon.toFixed(5) : "")),
      el("p", {}, el("span", { class: "chip " + healthOf(c).replace(/\s/g, "-") }, healthOf(c)), " ", h.fps != null ? CW.num(h.fps, 1) + " fps · " : "", h.last_frame_at ? "last frame " + CW.ago(h.last_frame_at) : ""),
      frame,
      el("h3", { style: "margin-top:0.8rem" }, "Recent sightings"),
      grid,
    ];
    side.replaceChildren(...parts.filter(Boolean));
    document.getElementById("side-cameras").classList.add("hidden");
    side.classList.remove("hidden");
    try {
      const rows = await CW.api("/api/cameras/" + encodeURIComponent(c.name) + "/sightings?limit=24");
      if (selected !== c.name) return;
      grid.replaceChildren();
      if (!rows.length) grid.append(el("div", { class: "empty" }, "No sightings from this camera in the retention window."));
      rows.forEach((s) => grid.append(sightingThumb(s)));
    } catch (err) {
      grid.replaceChildren();
      CW.errorBox(grid, err, "Sightings could not be loaded");
    }
  }

  async function load() {
    try {
      cameras = await CW.api("/api/cameras");
    } catch (err) {
      list.replaceChildren();
      CW.errorBox(document.getElementById("side-cameras"), err, "Cameras could not be loaded");
      return;
    }
    list.replaceChildren();
    if (!cameras.length) list.append(el("li", { class: "muted" }, "No cameras are visible to you."));
    cameras.forEach((c) => {
      const st = healthOf(c);
      const li = el(
        "li",
        { dataset: { camera: c.name }, tabindex: "0" },
        el("span", { class: "dot " + st }),
        el("div", { style: "flex:1;min-width:0" }, el("strong", {}, c.name), el("div", { class: "small muted" }, c.location || (c.lat == null ? "no position configured" : ""))),
        el("span", { class: "small muted" }, st),
      );
      li.addEventListener("click", () => select(c));
      li.addEventListener("keydown", (e) => e.key === "Enter" && select(c));
      list.append(li);
    });
    if (m) {
      const placed = m.setCameras(cameras, select);
      if (placed) m.fit();
      if (placed < cameras.length) {
        list.parentElement.append(el("p", { class: "small muted" }, cameras.length - placed + " camera(s) have no position configured (lat/lon) and are not on the map."));
      }
    }
    const want = node.dataset.camera;
    const pick = cameras.find((c) => c.name === want);
    if (pick) select(pick);
  }

  load();
})();
