// The plate page: every sighting in time order (keyset pages) with a thumbnail of its frame,
// on the map, and the clip at the moment of each sighting.
import { api, bothTimes, fail, h, localOffset, mediaUrl, place, playAt, regionTag, seconds, sightingThumbnail, video } from "./api.js";
import { fit, makeMap } from "./map.js";
import { plateBox } from "./player.js";

const L = window.L;
const plate = document.getElementById("plate-title").dataset.plate;
const summary = document.getElementById("plate-summary");
const regionsEl = document.getElementById("plate-regions");
const regions = new Set();
const tbody = document.querySelector("#sightings tbody");
const more = document.getElementById("more");
const map = makeMap(document.getElementById("map"));
const points = [];
const markers = new Map();
let next = null;
let count = 0;

async function watch(s, row) {
  const v = await video(s.video_id);
  const section = document.getElementById("player");
  const caption = document.getElementById("player-caption");
  section.hidden = false;
  for (const tr of tbody.querySelectorAll("tr.current")) tr.classList.remove("current");
  row.classList.add("current");
  if (!v) {
    caption.textContent = `video ${s.video_id} is not in the index`;
    return;
  }
  const el = document.getElementById("clip");
  el.dataset.offset = String(s.offset_s);
  playAt(el, await mediaUrl(v.device, v.path), s.offset_s);
  caption.textContent = `${s.plate} in ${v.path} at ${seconds(s.offset_s)} (${s.channel} camera)`;
  plateBox(el, document.getElementById("plate-box"), document.getElementById("box-caption"), s.video_id, s.offset_s);
  section.scrollIntoView({ block: "nearest" });
}

async function addRow(s) {
  count += 1;
  const v = await video(s.video_id);
  const offset = localOffset(v);
  const when = bothTimes(s.first_seen, s.time_basis, offset);
  const clipName = v ? v.path.split("/").pop() : s.video_id;
  const row = h("tr", { id: `sighting-${s.sighting_id}` },
    h("td", { class: "n" }, count),
    h("td", { class: "frame" }, await sightingThumbnail(s, clipName)),
    h("td", {}, when),
    h("td", {}, place(s.location)),
    h("td", {}, s.text_raw, " ", regionTag(s.region), s.texts.length > 1 ? h("div", { class: "muted" }, `also ${s.texts.filter((t) => t !== s.text_raw).join(", ")}`) : null),
    h("td", { class: "n" }, s.confidence.toFixed(2)),
    h("td", {}, `${s.vehicle} · `, h("a", { href: `/videos/${encodeURIComponent(s.video_id)}?t=${s.offset_s}` }, clipName), h("span", { class: "nowrap" }, ` @ ${seconds(s.offset_s)}`)),
    h("td", {}, v ? h("button", { type: "button", class: "watch", "data-video": s.video_id, "data-offset": s.offset_s }, "▶ Watch") : h("span", { class: "muted" }, "clip not indexed")));
  const btn = row.querySelector("button.watch");
  if (btn) btn.addEventListener("click", () => watch(s, row));
  tbody.append(row);
  if (s.region && !regions.has(s.region)) {
    regions.add(s.region);
    regionsEl.replaceChildren(...[...regions].sort().map(regionTag));
  }
  if (s.location) {
    const ll = [s.location.lat, s.location.lon];
    points.push(ll);
    const m = L.circleMarker(ll, { radius: 9, color: "#0b57b0", weight: 2, fillColor: "#3b82f6", fillOpacity: 0.8, className: "sighting-marker" })
      .bindPopup(`<strong>#${count}</strong> ${s.plate}<br>${when}`)
      .bindTooltip(`#${count}`, { permanent: true, direction: "right", offset: [10, 0], className: "sighting-label" })
      .addTo(map);
    m.on("click", () => watch(s, row));
    markers.set(s.sighting_id, m);
  }
}

async function load() {
  try {
    const qs = next ? `?next=${encodeURIComponent(next)}` : "";
    const body = await api(`/api/plates/${encodeURIComponent(plate)}/timeline${qs}`);
    for (const s of body.rows) await addRow(s);
    next = body.next;
    more.hidden = !next;
    const canon = body.plate.canonical;
    summary.textContent = count
      ? `${count} sighting${count === 1 ? "" : "s"}${next ? " so far" : ""} (matching ${canon}, OCR-tolerant)`
      : `No sightings of ${plate} (OCR-tolerant form ${canon}).`;
    fit(map, points);
  } catch (err) {
    fail(summary, err);
  }
}

more.addEventListener("click", load);
load();
