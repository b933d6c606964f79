/* Live page: the alert feed (server-sent events) and camera tiles with their latest frame and health. */
"use strict";

(() => {
  const { el } = CW;
  const feed = document.getElementById("alert-feed");
  const tiles = document.getElementById("tiles");
  const state = document.getElementById("stream-state");
  const seen = new Map();
  const baseTitle = document.title;
  let unseen = 0;

  function alertCard(a, isNew) {
    const card = el(
      "a",
      { class: "alert-card status-" + a.status + (isNew ? " new" : ""), href: "/alerts/" + a.id, dataset: { alertId: a.id } },
      CW.face(a.thumbnail_url, "captured face"),
      CW.face(a.photo_url, "enrolled photo"),
      el(
        "div",
        {},
        el("div", { class: "who-line" }, el("span", { class: "name" }, a.identity || "unknown"), CW.statusChip(a.status)),
        el("div", { class: "meta" }, a.camera + " · " + CW.time(a.start) + " · " + (a.watchlist || "") + " · " + a.decisions + "/2 checks"),
        CW.scoreBar(a.score, a.threshold),
      ),
    );
    card.title = "Open alert " + a.id + ": captured face (left) beside the enrolled photo";
    return card;
  }

  function renderCount() {
    const n = seen.size;
    document.getElementById("alert-count").textContent = n ? n + " shown" : "";
    document.title = (unseen ? "(" + unseen + ") " : "") + baseTitle;
  }

  function add(a, isNew) {
    const old = seen.get(a.id);
    const card = alertCard(a, isNew);
    if (old) {
      old.replaceWith(card);
    } else if (isNew) {
      feed.prepend(card);
    } else {
      feed.append(card);
    }
    seen.set(a.id, card);
    feed.querySelector(":scope > .empty")?.remove();
    if (isNew && !old) unseen += 1;
    renderCount();
  }

  async function loadAlerts() {
    try {
      const list = await CW.api("/api/alerts?limit=50");
      feed.replaceChildren();
      if (!list.length) feed.append(el("div", { class: "empty" }, "No alerts yet. They appear here the moment a camera raises one."));
      list.forEach((a) => add(a, false));
    } catch (err) {
      feed.replaceChildren();
      CW.errorBox(feed, err, "Alerts could not be loaded");
    }
  }

  function setState(kind, text) {
    state.replaceChildren(el("span", { class: "dot " + kind }), el("span", {}, text));
  }

  function connect() {
    const es = new EventSource("/api/alerts/stream");
    es.addEventListener("open", () => setState("ok", "live"));
    es.addEventListener("alert", (ev) => {
      try {
        add(JSON.parse(ev.data), true);
      } catch (e) {
        CW.toast("An alert could not be read: " + e.message);
      }
    });
    es.addEventListener("error", () => {
      // EventSource reconnects by itself (sending Last-Event-ID); a closed one means the session ended
      setState("warn", es.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…");
      if (es.readyState === EventSource.CLOSED) setTimeout(async () => {
        try {
          await CW.api("/api/auth/me");
          connect();
        } catch (e) {
          /* api() sends a logged-out user to the login page */
        }
      }, 3000);
    });
  }

  // --- cameras ---------------------------------------------------------------

  const tileNodes = new Map();

  function stat(k, v) {
    return el("div", { class: "stat" }, el("div", { class: "k" }, k), el("div", { class: "v" }, v));
  }

  function healthState(c) {
    if (!c.enabled) return "off";
    return (c.health && c.health.state) || "no worker";
  }

  function tile(c) {
    const h = c.health || {};
    const st = healthState(c);
    const frame = el("div", { class: "frame" }, c.enabled ? "no frame yet" : "not streaming");
    if (h.last_frame_at && c.frame_url) {
      const img = el("img", { src: c.frame_url + "?t=" + Date.now(), alt: "latest frame of " + c.name });
      img.addEventListener("error", () => img.remove());
      frame.append(img, el("span", { class: "stamp" }, CW.time(h.last_frame_at)));
    }
    return el(
      "article",
      { class: "tile", dataset: { camera: c.name } },
      frame,
      el(
        "div",
        { class: "body" },
        el("div", { class: "title" }, el("strong", {}, c.name), el("span", { class: "chip " + st.replace(/\s/g, "-") }, el("span", { class: "dot " + st }), st)),
        el("div", { class: "where" }, c.location || (c.lat != null ? c.lat.toFixed(4) + ", " + c.lon.toFixed(4) : "no location set")),
        el(
          "div",
          { class: "stats" },
          stat("fps", c.enabled && h.fps != null ? CW.num(h.fps, 1) : "–"),
          stat("dropped", c.enabled && h.dropped != null ? String(h.dropped) : "–"),
          stat("last frame", h.last_frame_at ? CW.ago(h.last_frame_at) : "never"),
        ),
        c.enabled && h.error && h.error !== st ? el("div", { class: "err" }, h.error) : null,
      ),
    );
  }

  // Refresh a tile in place; the frame is swapped only once the new one has loaded (no flicker).
  function update(node, c) {
    const fresh = tile(c);
    node.querySelector(".body").replaceWith(fresh.querySelector(".body"));
    const h = c.health || {};
    const frame = node.querySelector(".frame");
    if (!(h.last_frame_at && c.frame_url)) {
      frame.replaceWith(fresh.querySelector(".frame"));
      return;
    }
    const src = c.frame_url + "?t=" + Date.now();
    const probe = new Image();
    probe.onload = () => {
      let img = frame.querySelector("img");
      if (!img) {
        frame.replaceChildren();
        img = el("img", { alt: "latest frame of " + c.name });
        frame.append(img, el("span", { class: "stamp" }));
      }
      img.src = src;
      frame.querySelector(".stamp").textContent = CW.time(h.last_frame_at);
    };
    probe.src = src;
  }

  async function loadCameras() {
    try {
      const cams = await CW.api("/api/cameras");
      tiles.querySelector(":scope > .error-box")?.remove();
      if (!cams.length) {
        tiles.replaceChildren(el("div", { class: "empty" }, "No cameras are visible to you."));
        return;
      }
      tiles.querySelector(":scope > .empty")?.remove();
      const running = cams.filter((c) => healthState(c) === "running").length;
      document.getElementById("cam-summary").textContent = running + " of " + cams.length + " running";
      for (const c of cams) {
        const old = tileNodes.get(c.name);
        if (old) {
          update(old, c);
        } else {
          const node = tile(c);
          tiles.append(node);
          tileNodes.set(c.name, node);
        }
      }
    } catch (err) {
      if (!tiles.querySelector(".tile")) tiles.replaceChildren();
      CW.errorBox(tiles, err, "Camera health could not be loaded");
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      unseen = 0;
      renderCount();
    }
  });

  loadAlerts().then(connect);
  loadCameras();
  setInterval(loadCameras, 3000);
})();
