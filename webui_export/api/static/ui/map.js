// A Leaflet map (vendored, window.L) with the configured tiles, a scale, and a plain view
// (grid background and a note) when no tile URL is configured or tiles fail to load.
const L = window.L;

export function makeMap(el) {
  const url = document.body.dataset.tileUrl || "";
  const map = L.map(el, { scrollWheelZoom: false, keyboard: true }).setView([20, 0], 2);
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  const note = L.control({ position: "topright" });
  note.onAdd = () => {
    const div = L.DomUtil.create("div", "map-note");
    div.textContent = "map tiles unavailable: plain view";
    return div;
  };
  const plain = () => {
    if (el.classList.contains("plain")) return;
    el.classList.add("plain");
    note.addTo(map);
  };
  if (url) {
    let failed = 0;
    let loaded = 0;
    const layer = L.tileLayer(url, {
      maxZoom: 19,
      attribution: document.body.dataset.tileAttribution || "",
    });
    layer.on("tileload", () => { loaded += 1; });
    layer.on("tileerror", () => {
      failed += 1;
      if (failed >= 2 && loaded === 0) plain();
    });
    layer.addTo(map);
  } else {
    plain();
  }
  return map;
}

/** Fit the map to latlngs (a lone point gets a street-level zoom). */
export function fit(map, latlngs) {
  if (!latlngs.length) {
    map.setView([0, 0], 1);
    return;
  }
  if (latlngs.length === 1) map.setView(latlngs[0], 16);
  else map.fitBounds(L.latLngBounds(latlngs), { padding: [24, 24], maxZoom: 17 });
}

/** Colour of a speed (km/h) for the track: slow blue to fast red. */
export function speedColour(kmh) {
  if (kmh === null || kmh === undefined) return "#6b7280";
  if (kmh < 20) return "#1d4ed8";
  if (kmh < 40) return "#0f8a5f";
  if (kmh < 60) return "#c77700";
  if (kmh < 90) return "#c2410c";
  return "#b91c1c";
}

export const SPEED_BANDS = [[0, "< 20"], [20, "20-40"], [40, "40-60"], [60, "60-90"], [90, "≥ 90"]];
