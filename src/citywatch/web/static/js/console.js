/* citywatch console: shared helpers (API calls with CSRF, errors, formatting, small DOM builder). */
"use strict";

const CW = (() => {
  const CSRF_COOKIE = "cw_csrf";
  const CSRF_HEADER = "X-CSRF-Token";
  const user = window.CW_USER || null;

  class ApiError extends Error {
    constructor(status, code, message, detail) {
      super(message);
      this.status = status;
      this.code = code;
      this.detail = detail;
    }
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
    return "";
  }

  function can(perm) {
    return !!(user && user.permissions && user.permissions.includes(perm));
  }

  // A message a person can act on, from the API's one error shape.
  function describe(status, err) {
    const msg = (err && err.message) || "";
    if (status === 422 && err && Array.isArray(err.detail)) {
      const items = err.detail.map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body").join(".") : "";
        return (where ? where + ": " : "") + (d.msg || JSON.stringify(d));
      });
      return "Please check the form: " + items.join("; ");
    }
    if (status === 403 && err && err.code === "csrf_failed") {
      return "Your session's security token is missing or stale. Reload the page and try again.";
    }
    if (status === 403) return msg || "Your role does not allow this.";
    if (status === 404) return msg || "Not found (or not visible to you).";
    if (status === 413) return msg || "The file is too large.";
    if (status === 429) return msg || "Too many attempts; wait a moment and try again.";
    if (status >= 500) return "The server failed to answer (" + status + "). " + msg;
    return msg || "Request failed (" + status + ").";
  }

  async function api(path, opts = {}) {
    const headers = { Accept: "application/json" };
    let body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form;
    }
    const method = opts.method || (body !== undefined ? "POST" : "GET");
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers[CSRF_HEADER] = cookie(CSRF_COOKIE);
    let res;
    try {
      res = await fetch(path, { method, headers, body, credentials: "same-origin", signal: opts.signal });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, "network", "The server cannot be reached. Check the connection and try again.");
    }
    if (res.status === 401 && !opts.noRedirect) {
      window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, "unauthenticated", "Your session has ended; please log in again.");
    }
    if (res.status === 204) return null;
    const type = res.headers.get("content-type") || "";
    const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
    if (!res.ok) {
      const err = data && typeof data === "object" ? data.error || {} : { message: String(data || "").slice(0, 200) };
      throw new ApiError(res.status, err.code || "error", describe(res.status, err), err.detail);
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "html") node.innerHTML = v;
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function toast(message, kind = "error", title) {
    let box = document.getElementById("toasts");
    if (!box) {
      box = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
      document.body.append(box);
    }
    const t = el("div", { class: "toast " + kind }, title ? el("strong", { text: title }) : null, message);
    box.append(t);
    setTimeout(() => t.remove(), kind === "error" ? 10000 : 5000);
    return t;
  }

  function errorBox(container, err, prefix) {
    const box = el("div", { class: "error-box", role: "alert" }, (prefix ? prefix + ": " : "") + (err.message || String(err)));
    if (container) {
      container.querySelectorAll(":scope > .error-box").forEach((n) => n.remove());
      container.prepend(box);
    }
    return box;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const now = new Date();
    const hms = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return hms;
    return d.getDate() + " " + MONTHS[d.getMonth()] + (d.getFullYear() !== now.getFullYear() ? " " + d.getFullYear() : "") + " " + hms;
  }

  function date(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.getDate() + " " + MONTHS[d.getMonth()] + " " + d.getFullYear();
  }

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 0) return "in " + until(iso);
    if (s < 5) return "just now";
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function until(iso) {
    const s = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " days";
  }

  // "expires in 29 days" / "expired 2 days ago", with a class for colour.
  function expiry(iso) {
    if (!iso) return el("span", { class: "expiry" }, "no expiry");
    const left = new Date(iso).getTime() - Date.now();
    if (left <= 0) return el("span", { class: "expiry past", title: date(iso) }, "expired " + ago(iso));
    const soon = left < 7 * 86400000;
    return el("span", { class: "expiry" + (soon ? " soon" : ""), title: new Date(iso).toLocaleString() }, "expires in " + until(iso) + " (" + date(iso) + ")");
  }

  function num(x, digits = 2) {
    return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
  }

  // Where score bars start: a little below the threshold, so scores near it can be told apart
  // (calibrated thresholds sit high on the scale; a bar from 0 would look full for every alert).
  function scoreFloor(threshold) {
    return threshold === null || threshold === undefined ? 0 : Math.max(0, Math.floor((threshold - 0.3) * 10) / 10);
  }

  // Score against threshold: a bar from scoreFloor to 1 with the threshold marked, the number on the right.
  function scoreBar(score, threshold) {
    const lo = scoreFloor(threshold);
    const pct = (v) => Math.max(0, Math.min(100, (100 * (v - lo)) / (1 - lo))) + "%";
    const above = threshold !== null && threshold !== undefined && score >= threshold;
    const bar = el(
      "div",
      { class: "scorebar", title: "score " + num(score, 3) + (threshold != null ? " · threshold " + num(threshold, 3) : "") + " · bar from " + num(lo, 1) + " to 1" },
      el("div", { class: "fill" + (above ? " above" : ""), style: "width:" + pct(score) }),
      threshold != null ? el("div", { class: "tick", style: "left:calc(" + pct(threshold) + " - 1px)" }) : null,
    );
    return el("div", { class: "score" }, bar, el("span", { class: "num" }, num(score, 2)));
  }

  function chip(text, cls) {
    return el("span", { class: "chip " + (cls || text || "") }, text);
  }

  // An <img> of a face that turns into a labelled placeholder when it cannot be loaded.
  function face(src, alt, cls = "") {
    if (!src) return el("div", { class: "face missing " + cls }, alt || "no image");
    const img = el("img", { class: "face " + cls, src, alt: alt || "", loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(el("div", { class: "face missing " + cls, title: alt || "" }, "image not available")));
    return img;
  }

  function statusChip(status) {
    const labels = { unconfirmed: "awaiting checks", confirmed: "confirmed", rejected: "rejected", disputed: "disputed" };
    return chip(labels[status] || status || "unknown", status);
  }

  // Datetime-local input value <-> ISO (UTC).
  function localInput(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function fromLocalInput(v) {
    return v ? new Date(v).toISOString() : "";
  }

  // Wire a drop zone: click or drop files; calls onFiles(File[]) with images only.
  function dropzone(zone, onFiles, { multiple = true } = {}) {
    const input = zone.querySelector("input[type=file]");
    zone.addEventListener("click", (e) => {
      if (e.target !== input) input.click();
    });
    zone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        input.click();
      }
    });
    input.addEventListener("change", () => {
      onFiles(filterImages(input.files));
      input.value = "";
    });
    for (const ev of ["dragenter", "dragover"]) {
      zone.addEventListener(ev, (e) => {
        e.preventDefault();
        zone.classList.add("over");
      });
    }
    for (const ev of ["dragleave", "drop"]) {
      zone.addEventListener(ev, (e) => {
        e.preventDefault();
        zone.classList.remove("over");
      });
    }
    zone.addEventListener("drop", (e) => {
      const files = filterImages(e.dataTransfer.files);
      onFiles(multiple ? files : files.slice(0, 1));
    });
    function filterImages(list) {
      const files = Array.from(list || []);
      const bad = files.filter((f) => !f.type.startsWith("image/"));
      if (bad.length) toast(bad.map((f) => f.name).join(", ") + ": not an image (use JPEG or PNG)", "error", "File skipped");
      return files.filter((f) => f.type.startsWith("image/"));
    }
  }

  async function logout() {
    try {
      await api("/api/auth/logout", { method: "POST", noRedirect: true });
    } catch (e) {
      /* the session may already be gone; the login page is the right place either way */
    }
    window.location.href = "/login";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const btn = document.getElementById("logout");
    if (btn) btn.addEventListener("click", logout);
  });

  return { ApiError, api, can, user, el, toast, errorBox, time, date, ago, until, expiry, num, scoreBar, scoreFloor, chip, face, statusChip, localInput, fromLocalInput, dropzone, cookie };
})();
