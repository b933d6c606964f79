/* Audit page: hash-chain status and the filterable log, newest first. */
"use strict";

(() => {
  const { el } = CW;
  const NEWEST = 9007199254740991;
  let rows = [];
  let oldest = NEWEST;

  async function verify() {
    const panel = document.getElementById("chain-panel");
    panel.replaceChildren(el("div", { class: "muted" }, "Verifying the chain…"));
    try {
      const v = await CW.api("/api/audit/verify");
      const head = v.head ? "#" + v.head.seq + " · " + v.head.hash : "empty";
      panel.replaceChildren(
        el(
          "div",
          { class: "chain " + (v.ok ? "ok" : "bad"), id: "chain-status", dataset: { ok: v.ok ? "1" : "0" } },
          el("div", { class: "seal", "aria-hidden": "true" }, v.ok ? "✓" : "!"),
          el(
            "div",
            {},
            el("h2", { style: "margin:0" }, v.ok ? "Chain intact" : "Chain broken" + (v.first_bad_seq != null ? " at entry #" + v.first_bad_seq : "")),
            el("div", {}, v.entries + " entries checked" + (v.ok ? "; no entry was edited or removed." : ": " + (v.reason || "an entry does not match its hash."))),
            el("div", { class: "hash" }, "head " + head),
            v.anchor ? el("div", { class: "hash" }, "anchor #" + v.anchor.seq + " · " + v.anchor.hash) : null,
          ),
        ),
      );
    } catch (err) {
      panel.replaceChildren();
      CW.errorBox(panel, err, "The chain could not be verified");
    }
  }

  function filters() {
    return {
      actor: document.getElementById("f-actor").value.trim(),
      action: document.getElementById("f-action").value.trim(),
      text: document.getElementById("f-text").value.trim().toLowerCase(),
      limit: document.getElementById("f-limit").value,
    };
  }

  async function load(more) {
    const f = filters();
    const q = new URLSearchParams({ limit: f.limit, before_seq: String(more ? oldest : NEWEST) });
    if (f.actor) q.set("actor", f.actor);
    if (f.action) q.set("action", f.action);
    const body = document.getElementById("audit-body");
    try {
      const page = await CW.api("/api/audit?" + q);
      const got = page.entries.slice().sort((a, b) => b.seq - a.seq);
      rows = more ? rows.concat(got) : got;
      if (got.length) oldest = got[got.length - 1].seq;
      document.getElementById("older").classList.toggle("hidden", got.length < Number(f.limit));
      render();
    } catch (err) {
      body.replaceChildren();
      CW.errorBox(body, err, "The log could not be loaded");
    }
  }

  function render() {
    const f = filters();
    const body = document.getElementById("audit-body");
    const shown = rows.filter((r) => !f.text || [r.target, r.case_ref, r.reason].some((x) => x && x.toLowerCase().includes(f.text)));
    document.getElementById("audit-count").textContent = shown.length + " of " + rows.length + " loaded entries shown";
    if (!shown.length) {
      body.replaceChildren(el("div", { class: "empty" }, "No entries match."));
      return;
    }
    const tr = (r) => {
      const det = r.details ? JSON.stringify(r.details) : "";
      const cell = el("td", { class: "details", title: det ? "click to expand" : "" }, det);
      cell.addEventListener("click", () => {
        cell.classList.toggle("open");
        cell.textContent = cell.classList.contains("open") ? JSON.stringify(r.details, null, 2) : det;
      });
      return el(
        "tr",
        { dataset: { seq: r.seq } },
        el("td", { class: "mono small" }, "#" + r.seq),
        el("td", { class: "small nowrap", title: r.ts }, CW.time(r.ts)),
        el("td", {}, r.actor, r.role ? el("div", { class: "small muted" }, r.role) : null),
        el("td", { class: "action" }, r.action),
        el("td", { class: "small" }, r.target),
        el("td", { class: "small" }, r.case_ref ? el("div", {}, el("strong", {}, r.case_ref)) : null, r.reason || ""),
        el("td", { class: "small muted" }, r.client || ""),
        cell,
      );
    };
    body.replaceChildren(
      el(
        "table",
        { class: "grid audit-table", id: "audit-table" },
        el("thead", {}, el("tr", {}, ...["seq", "time", "user", "action", "target", "case / reason", "from", "details"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...shown.map(tr)),
      ),
    );
  }

  document.getElementById("audit-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    load(false);
  });
  document.getElementById("f-text").addEventListener("input", render);
  document.getElementById("older").addEventListener("click", () => load(true));
  document.getElementById("reverify").addEventListener("click", verify);
  // one after the other: reading the log appends its own audit entry, which a verification
  // running at the same moment could see half-written (committed, anchor not yet moved)
  verify().then(() => load(false));
})();
