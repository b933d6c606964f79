/* Watchlists page: request an entry (photo drag and drop), the supervisor's approval queue, entries with expiry. */
"use strict";

(() => {
  const { el } = CW;
  const cfg = window.CW_WL || { defaultDays: 30, maxDays: 90 };
  const photos = []; // {file, url, provenance}

  // --- enrolment ----------------------------------------------------------------

  const form = document.getElementById("enrol-form");
  if (form) {
    const previews = document.getElementById("photo-previews");
    const renderPreviews = () => {
      previews.replaceChildren(
        ...photos.map((p, i) => {
          const prov = el("input", { type: "text", placeholder: "where it comes from", value: p.provenance, "aria-label": "provenance of " + p.file.name });
          prov.addEventListener("input", () => (p.provenance = prov.value));
          const rm = el("button", { class: "remove", type: "button", title: "remove" }, "remove");
          rm.addEventListener("click", () => {
            URL.revokeObjectURL(p.url);
            photos.splice(i, 1);
            renderPreviews();
          });
          return el("div", { class: "preview" }, el("img", { src: p.url, alt: p.file.name }), el("div", {}, rm, el("span", { class: "small" }, p.file.name.slice(0, 16))), prov);
        }),
      );
    };
    CW.dropzone(document.getElementById("photo-zone"), (files) => {
      files.forEach((f) => photos.push({ file: f, url: URL.createObjectURL(f), provenance: "" }));
      renderPreviews();
    });

    const expires = document.getElementById("expires");
    const showExpiry = () => {
      const d = Number(expires.value);
      const on = document.getElementById("expires-on");
      if (!d || d < 1 || d > cfg.maxDays) {
        on.textContent = "between 1 and " + cfg.maxDays + " days";
        on.className = "small expiry past";
        return;
      }
      on.className = "small muted";
      on.textContent = "expires on " + CW.date(new Date(Date.now() + d * 86400000).toISOString());
    };
    expires.addEventListener("input", showExpiry);
    showExpiry();

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const errors = document.getElementById("enrol-errors");
      errors.replaceChildren();
      const v = (id) => document.getElementById(id).value.trim();
      const bad = [];
      if (!photos.length) bad.push("Add at least one photo of the person.");
      photos.forEach((p) => p.provenance.trim() || bad.push(p.file.name + ": say where this photo comes from."));
      if (!v("wl-name")) bad.push("Name the watchlist.");
      if (!v("person")) bad.push("Give the person's name.");
      if (!v("legal-basis")) bad.push("Give the legal basis (the statute).");
      if (!v("legal-ref")) bad.push("Give the legal reference (the order or file number).");
      const days = Number(expires.value);
      if (!days || days < 1 || days > cfg.maxDays) bad.push("The expiry must be between 1 and " + cfg.maxDays + " days.");
      if (bad.length) {
        errors.append(el("div", { class: "error-box", role: "alert" }, "Before requesting:", el("ul", {}, ...bad.map((b) => el("li", {}, b)))));
        return;
      }
      const fd = new FormData();
      fd.append("watchlist", v("wl-name"));
      fd.append("name", v("person"));
      fd.append("legal_basis", v("legal-basis"));
      fd.append("legal_reference", v("legal-ref"));
      fd.append("expires_days", String(days));
      photos.forEach((p) => {
        fd.append("photos", p.file, p.file.name);
        fd.append("provenance", p.provenance.trim());
      });
      const btn = document.getElementById("enrol-submit");
      btn.disabled = true;
      btn.textContent = "Checking photos…";
      try {
        const entry = await CW.api("/api/watchlists/entries", { form: fd });
        CW.toast(entry.name + " requested on " + entry.watchlist + " (entry " + entry.id + "); pending until a supervisor approves it.", "ok", "Entry requested");
        photos.splice(0, photos.length);
        renderPreviews();
        ["person", "legal-ref"].forEach((id) => (document.getElementById(id).value = ""));
        loadEntries();
        loadQueue();
      } catch (err) {
        errors.append(el("div", { class: "error-box", role: "alert" }, "The entry was not requested: " + err.message));
      } finally {
        btn.disabled = false;
        btn.textContent = "Request entry";
      }
    });

    CW.api("/api/watchlists")
      .then((wls) => document.getElementById("wl-list").replaceChildren(...wls.map((w) => el("option", { value: w.name }, w.entries + " entries"))))
      .catch(() => {});
  }

  // --- approval queue -------------------------------------------------------------

  function photoStrip(e, size) {
    const urls = e.photo_urls && e.photo_urls.length ? e.photo_urls : [null];
    return el("div", { class: "photos" }, ...urls.slice(0, 3).map((u, i) => CW.face(u, e.name + " photo " + (i + 1), size || "")));
  }

  function queueCard(e) {
    const note = el("textarea", { placeholder: "Note (required to reject)", "aria-label": "note for entry " + e.id });
    const approve = el("button", { class: "btn confirm small", type: "button", dataset: { entry: e.id } }, "Approve");
    const reject = el("button", { class: "btn reject small", type: "button" }, "Reject");
    const box = el("div", {});
    const decide = async (ok) => {
      if (!ok && !note.value.trim()) {
        CW.errorBox(box, new Error("Say why the entry is rejected (the note is recorded)."));
        return;
      }
      approve.disabled = reject.disabled = true;
      try {
        await CW.api("/api/approvals/entries/" + e.id, { json: { approve: ok, note: note.value.trim() } });
        CW.toast(e.name + (ok ? " approved: the entry now raises alerts where an authorisation covers it." : " rejected."), "ok");
        loadQueue();
        loadEntries();
      } catch (err) {
        CW.errorBox(box, err, "Not decided");
        approve.disabled = reject.disabled = false;
      }
    };
    approve.addEventListener("click", () => decide(true));
    reject.addEventListener("click", () => decide(false));
    const mine = !!e.mine;
    return el(
      "div",
      { class: "entry-card", dataset: { entryId: e.id } },
      el(
        "div",
        { class: "top" },
        photoStrip(e),
        el(
          "div",
          { style: "min-width:0" },
          el("strong", {}, e.name),
          el("div", { class: "small muted" }, e.watchlist + " · entry " + e.id),
          el("div", { class: "small" }, e.legal_basis),
          el("div", { class: "small muted" }, e.legal_reference),
          el("div", { class: "small muted" }, "requested by " + e.requested_by + " · " + CW.ago(e.created_at)),
          CW.expiry(e.expires_at),
        ),
      ),
      box,
      mine
        ? el("p", { class: "small muted", style: "margin:0.6rem 0 0" }, "You requested this entry; another supervisor must decide.")
        : el("div", {}, note, el("div", { class: "actions", style: "margin-top:0.5rem" }, approve, reject)),
    );
  }

  function authRow(a) {
    const grant = el("button", { class: "btn confirm small", type: "button" }, "Grant");
    const refuse = el("button", { class: "btn reject small", type: "button" }, "Refuse");
    const act = async (what) => {
      grant.disabled = refuse.disabled = true;
      try {
        if (what === "grant") await CW.api("/api/authorisations/" + a.id + "/grant", { method: "POST" });
        else await CW.api("/api/authorisations/" + a.id + "/refuse", { json: { note: "" } });
        CW.toast("Authorisation " + a.id + (what === "grant" ? " granted." : " refused."), "ok");
        loadQueue();
      } catch (err) {
        CW.toast(err.message, "error", "Not decided");
        grant.disabled = refuse.disabled = false;
      }
    };
    grant.addEventListener("click", () => act("grant"));
    refuse.addEventListener("click", () => act("refuse"));
    return el(
      "tr",
      {},
      el("td", {}, el("strong", {}, a.case_ref), el("div", { class: "small muted" }, a.authority + " · " + a.reference)),
      el("td", {}, a.use.replace("_", "-"), a.urgent ? el("span", { class: "chip warn" }, "urgent") : null),
      el("td", { class: "small" }, (a.cameras ? a.cameras.join(", ") : "all cameras") + " · entries " + a.targets.join(", ")),
      el("td", { class: "small" }, CW.date(a.window_start) + " – " + CW.date(a.window_end)),
      el("td", { class: "small" }, a.requested_by),
      el("td", {}, a.mine ? el("span", { class: "small muted" }, "yours") : el("div", { class: "actions", style: "margin:0" }, grant, refuse)),
    );
  }

  async function loadQueue() {
    const q = document.getElementById("queue");
    if (!q) return;
    try {
      const res = await CW.api("/api/approvals");
      q.replaceChildren();
      const entries = res.entries || [];
      document.getElementById("queue-count").textContent = entries.length + " entr" + (entries.length === 1 ? "y" : "ies") + " waiting";
      if (!entries.length) q.append(el("div", { class: "empty" }, "Nothing waiting for approval."));
      entries.forEach((e) => q.append(queueCard(e)));
      const auths = res.authorisations || [];
      const box = document.getElementById("auth-queue");
      box.replaceChildren();
      if (auths.length) {
        box.append(
          el("h3", { style: "margin-top:1rem" }, "Authorisations waiting"),
          el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["case", "use", "scope", "window", "requested by", ""].map((h) => el("th", {}, h)))), el("tbody", {}, ...auths.map(authRow))),
        );
      }
    } catch (err) {
      q.replaceChildren();
      CW.errorBox(q, err, "The queue could not be loaded");
    }
  }

  // --- entries -------------------------------------------------------------------

  async function loadEntries() {
    const box = document.getElementById("entries");
    const status = document.getElementById("status-filter").value;
    try {
      const list = await CW.api("/api/watchlists/entries" + (status ? "?status=" + status : ""));
      box.replaceChildren();
      if (!list.length) {
        box.append(el("div", { class: "empty" }, status ? "No " + status + " entries." : "No watchlist entries yet."));
        return;
      }
      box.append(
        el(
          "table",
          { class: "grid", id: "entries-table" },
          el("thead", {}, el("tr", {}, ...["", "name", "watchlist", "status", "legal basis", "requested / approved", "expiry"].map((h) => el("th", {}, h)))),
          el(
            "tbody",
            {},
            ...list.map((e) =>
              el(
                "tr",
                { dataset: { entryId: e.id } },
                el("td", {}, CW.face(e.photo_urls && e.photo_urls[0], e.name)),
                el("td", {}, el("strong", {}, e.name), el("div", { class: "small muted" }, e.photos + " photo(s)")),
                el("td", {}, e.watchlist),
                el("td", {}, CW.chip(e.status, e.status)),
                el("td", { class: "small" }, e.legal_basis, el("div", { class: "muted" }, e.legal_reference)),
                el("td", { class: "small" }, e.requested_by, el("div", { class: "muted" }, e.approved_by ? "approved by " + e.approved_by : "—")),
                el("td", {}, CW.expiry(e.expires_at)),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      box.replaceChildren();
      CW.errorBox(box, err, "Entries could not be loaded");
    }
  }

  document.getElementById("status-filter").addEventListener("change", loadEntries);
  loadQueue();
  loadEntries();
})();
