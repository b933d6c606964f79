/* citywatch console: the camera map (Leaflet, served locally; no tile server needed).
 *
 * Without a configured tile URL the map is a plain background with a grid
 * drawn on canvas tiles, so it works offline; markers, labels, the scale bar
 * and trajectories are vector layers.
 */
"use strict";

const CWMap = (() => {
  const COLORS = ["#2c6e8f", "#a8660c", "#2f7d55", "#7b4fa0", "#b83a3a", "#3f7f8a", "#8a6d2f", "#4b5f9e"];

  function colorFor(i) {
    return COLORS[i % COLORS.length];
  }

  // A canvas grid layer: faint lines at tile edges and a finer subgrid, so distances read at any zoom.
  function gridLayer() {
    const Grid = L.GridLayer.extend({
      createTile(coords) {
        const size = this.getTileSize();
        const c = document.createElement("canvas");
        c.width = size.x;
        c.height = size.y;
        const g = c.getContext("2d");
        g.fillStyle = "#eef2f5";
        g.fillRect(0, 0, size.x, size.y);
        g.strokeStyle = "rgba(44, 110, 143, 0.07)";
        g.lineWidth = 1;
        for (let i = 1; i < 4; i++) {
          const p = (i * size.x) / 4 + 0.5;
          g.beginPath();
          g.moveTo(p, 0);
          g.lineTo(p, size.y);
          g.moveTo(0, p);
          g.lineTo(size.x, p);
          g.stroke();
        }
        g.strokeStyle = "rgba(44, 110, 143, 0.18)";
        g.strokeRect(0.5, 0.5, size.x, size.y);
        return c;
      },
    });
    return new Grid({ tileSize: 256, attribution: "grid: no map tiles configured" });
  }

  function create(node, opts = {}) {
    const tileUrl = opts.tileUrl || node.dataset.tileUrl || "";
    const attribution = opts.attribution || node.dataset.tileAttribution || "";
    if (typeof L === "undefined") {
      node.classList.add("empty");
      node.textContent = "The map library is not installed (run `make web`); camera positions are listed instead.";
      return null;
    }
    const map = L.map(node, { zoomControl: true, attributionControl: true, minZoom: 2, maxZoom: 20, worldCopyJump: false });
    if (tileUrl) {
      L.tileLayer(tileUrl, { attribution, maxZoom: 20 }).addTo(map);
    } else {
      gridLayer().addTo(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    map.setView([20, 0], 2);
    const cams = L.featureGroup().addTo(map);
    const overlay = L.featureGroup().addTo(map);
    const markers = new Map();

    function setCameras(list, onClick) {
      cams.clearLayers();
      markers.clear();
      const placed = list.filter((c) => c.lat !== null && c.lat !== undefined && c.lon !== null && c.lon !== undefined);
      placed.forEach((c) => {
        const m = L.circleMarker([c.lat, c.lon], {
          radius: 9,
          color: "#ffffff",
          weight: 2.5,
          fillColor: c.color || "#2c6e8f",
          fillOpacity: 1,
          className: "cam-marker cam-" + c.name,
        });
        m.bindTooltip(c.label || c.name, { permanent: true, direction: "right", offset: [10, 0], className: "cam-label" });
        if (onClick) m.on("click", () => onClick(c));
        m.addTo(cams);
        markers.set(c.name, m);
      });
      return placed.length;
    }

    function highlight(name) {
      for (const [n, m] of markers) {
        m.setStyle({ radius: n === name ? 12 : 9, fillColor: n === name ? "#a8660c" : "#2c6e8f" });
      }
    }

    // Time-ordered path through the cameras: a line plus numbered stops.
    function drawTrajectory(stops) {
      overlay.clearLayers();
      const pts = stops.filter((s) => s.lat !== null && s.lat !== undefined && s.lon !== null && s.lon !== undefined);
      if (pts.length > 1) {
        L.polyline(pts.map((s) => [s.lat, s.lon]), { color: "#ffffff", weight: 8, opacity: 0.9 }).addTo(overlay);
        L.polyline(pts.map((s) => [s.lat, s.lon]), { color: "#a8660c", weight: 4, opacity: 0.95, dashArray: "10 7" }).addTo(overlay);
      }
      pts.forEach((s, i) => {
        const icon = L.divIcon({ className: "stop-icon", html: String(i + 1), iconSize: [26, 26], iconAnchor: [13, 13] });
        const when = CW.time(s.start) + (s.end && s.end !== s.start ? " – " + CW.time(s.end) : "");
        L.marker([s.lat, s.lon], { icon, zIndexOffset: 1000, title: s.camera })
          .bindTooltip("<strong>" + (i + 1) + ". " + escapeHtml(s.camera) + "</strong><br>" + escapeHtml(when) + "<br>best score " + CW.num(s.best_score, 2), {
            direction: "top",
            offset: [0, -12],
          })
          .addTo(overlay);
      });
      return pts.length;
    }

    function fit(padding = 60) {
      const layers = L.featureGroup([cams, overlay]);
      const b = layers.getBounds();
      if (b.isValid()) {
        map.fitBounds(b, { padding: [padding, padding], maxZoom: 17 });
      }
    }

    return { map, setCameras, drawTrajectory, highlight, fit, markers };
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  return { create, colorFor, escapeHtml };
})();
