/* Alert detail: captured face beside the enrolled photo, score against threshold, blind two-person verification. */
"use strict";

(() => {
  const { el } = CW;
  const root = document.getElementById("alert-root");
  const id = Number(root.dataset.alertId);
  const NEEDED = 2;
  let mapMade = false;

  function figure(node, src, alt, title, caption) {
    node.replaceChildren(CW.face(src, alt), el("figcaption", {}, el("strong", {}, title), caption));
  }

  function gauge(a) {
    const above = a.score >= a.threshold;
    const g = document.getElementById("gauge");
    g.replaceChildren(
      el("div", { class: "muted small" }, "similarity score"),
      el("div", { class: "big" }, CW.num(a.score, 2)),
      el("div", { class: "vs" }, (above ? "above" : "below") + " the threshold of " + CW.num(a.threshold, 2)),
      CW.scoreBar(a.score, a.threshold).firstChild,
      el("div", { class: "scale" }, el("span", {}, CW.num(CW.scoreFloor(a.threshold), 1)), el("span", {}, "threshold " + CW.num(a.threshold, 2)), el("span", {}, "1")),
      el("p", { class: "small muted", style: "margin-top:0.7rem" }, "The threshold is set from the model's measured false-accept rate, not by hand."),
    );
  }

  function fact(k, v) {
    return [el("dt", {}, k), el("dd", {}, v)];
  }

  function qualityText(q) {
    if (q === null || q === undefined) return "–";
    const word = q >= 0.66 ? "good" : q >= 0.33 ? "fair" : "poor";
    return CW.num(q, 2) + " (" + word + ")";
  }

  function renderFacts(a, s, cam) {
    const dl = document.getElementById("facts");
    dl.replaceChildren(
      ...fact("Watchlist entry", (a.identity || "–") + (a.watchlist ? " · " + a.watchlist : "")),
      ...fact("Camera", a.camera + (cam && cam.location ? " — " + cam.location : "")),
      ...fact("Seen", CW.time(a.start) + (a.end ? " – " + CW.time(a.end) : "")),
      ...fact("Score", CW.num(a.score, 3) + " against threshold " + CW.num(a.threshold, 3)),
      ...fact("Capture quality", s ? qualityText(s.quality) : "–"),
      ...fact("Frames with the face", s && s.detections != null ? String(s.detections) : "–"),
      ...fact("Alert raised", CW.time(a.created_at)),
      ...fact("Status", CW.statusChip(a.status)),
    );
    if (!mapMade && a.lat != null && a.lon != null && typeof CWMap !== "undefined") {
      mapMade = true;
      const node = document.getElementById("alert-map");
      node.classList.remove("hidden");
      const m = CWMap.create(node);
      if (m) {
        m.setCameras([{ name: a.camera, lat: a.lat, lon: a.lon }]);
        m.map.setView([a.lat, a.lon], 16);
      }
    }
  }

  function steps(n) {
    return el("div", { class: "steps", "aria-hidden": "true" }, ...Array.from({ length: NEEDED }, (_, i) => el("span", { class: i < n ? "done" : "" })));
  }

  function renderVerify(a) {
    const body = document.getElementById("verify-body");
    body.classList.remove("muted");
    const parts = [
      el("div", {}, el("span", { class: "count" }, a.decisions + " of " + NEEDED), " decisions recorded"),
      steps(a.decisions),
    ];
    if (a.status !== "unconfirmed") {
      parts.push(el("p", {}, "Outcome: ", CW.statusChip(a.status), a.status === "disputed" ? " — the verifiers disagreed; the alert is not confirmed." : ""));
    } else if (a.decided_by_me) {
      parts.push(el("div", { class: "banner info" }, el("div", {}, el("strong", {}, "Your decision is recorded."), "The other verifier decides without seeing it; the outcome shows here once both have decided.")));
    } else if (CW.can("alerts.verify")) {
      const note = el("textarea", { id: "verify-note", placeholder: "Optional note: what you compared (recorded in the audit trail)" });
      const confirm = el("button", { class: "btn confirm", type: "button", id: "btn-confirm" }, "✓ Confirm: same person");
      const reject = el("button", { class: "btn reject", type: "button", id: "btn-reject" }, "✕ Reject: not the same person");
      const decide = async (decision) => {
        confirm.disabled = reject.disabled = true;
        try {
          await CW.api("/api/alerts/" + id + "/decision", { json: { decision, note: note.value.trim() } });
          CW.toast("Your decision is recorded.", "ok");
          await load();
        } catch (err) {
          CW.errorBox(body, err, "The decision was not recorded");
          confirm.disabled = reject.disabled = false;
        }
      };
      confirm.addEventListener("click", () => decide("confirm"));
      reject.addEventListener("click", () => decide("reject"));
      parts.push(
        el("p", { class: "small muted" }, "Decide on your own: you will not see the other verifier's decision, and they will not see yours."),
        el("label", { for: "verify-note" }, "Note ", el("span", { class: "hint" }, "(optional)")),
        note,
        el("div", { class: "actions" }, confirm, reject),
      );
    } else {
      parts.push(el("p", { class: "muted" }, "Two users with the verifier role check this alert independently."));
    }
    if (CW.can("alerts.ack")) {
      const ack = el("button", { class: "btn", type: "button", id: "btn-ack" }, "Acknowledge");
      ack.addEventListener("click", async () => {
        ack.disabled = true;
        try {
          const r = await CW.api("/api/alerts/" + id + "/ack", { json: { note: "" } });
          CW.toast("Acknowledged by " + r.acknowledged_by + " at " + CW.time(r.at) + ".", "ok");
        } catch (err) {
          CW.errorBox(body, err, "Not acknowledged");
          ack.disabled = false;
        }
      });
      parts.push(el("div", { class: "actions" }, ack, el("span", { class: "small muted" }, "Acknowledging says you have seen it; it does not verify it.")));
    }
    body.replaceChildren(...parts);
  }

  async function load() {
    let a;
    try {
      a = await CW.api("/api/alerts/" + id);
    } catch (err) {
      document.getElementById("alert-sub").textContent = "";
      root.replaceChildren();
      CW.errorBox(root, err, "This alert cannot be shown");
      return;
    }
    document.getElementById("alert-title").textContent = (a.identity || "Alert") + " · alert " + a.id;
    document.getElementById("alert-sub").textContent = "Camera " + a.camera + " · " + CW.time(a.start) + " · watchlist " + (a.watchlist || "–");
    figure(document.getElementById("fig-captured"), a.thumbnail_url, "captured face", "Captured", el("span", {}, " camera " + a.camera + " · " + CW.time(a.start)));
    figure(document.getElementById("fig-enrolled"), a.photo_url, "enrolled photo", "Enrolled photo", el("span", {}, " " + (a.identity || "") + " · " + (a.watchlist || "")));
    gauge(a);
    const [s, cam] = await Promise.all([
      a.sighting_id != null ? CW.api("/api/sightings/" + a.sighting_id).catch(() => null) : null,
      CW.api("/api/cameras/" + encodeURIComponent(a.camera)).catch(() => null),
    ]);
    renderFacts(a, s, cam);
    renderVerify(a);
  }

  load();
})();
