// A video's page: the clip (at ?t= seconds), the GPS track on the map coloured by speed,
// metadata, each stage's state/device/time, its plates and detections (keyset pages).
import { api, bothTimes, fail, h, localOffset, mediaUrl, place, playAt, regionTag, seconds, sightingThumbnail } from "./api.js";
import { SPEED_BANDS, fit, makeMap, speedColour } from "./map.js";
import { plateBox } from "./player.js";

const L = window.L;
const id = document.getElementById("video-title").dataset.video;
const enc = encodeURIComponent(id);
const summary = document.getElementById("video-summary");
const clip = document.getElementById("clip");
const caption = document.getElementById("player-caption");
const map = makeMap(document.getElementById("map"));
const startAt = Number(new URLSearchParams(location.search).get("t") || 0);
let detNext = null;

function meta(v) {
  const offset = localOffset(v);
  const items = [
    ["vehicle", v.vehicle], ["channel", v.channel], ["brand", v.brand], ["mode", v.mode],
    ["start", bothTimes(v.start, v.time_basis, offset)], ["length", seconds(v.duration_s)],
    ["status", v.status], ["file", `${v.device}: ${v.path}`],
    ["rejected", v.rejection ? `${v.rejection.reason}${v.rejection.detail ? ` (${v.rejection.detail})` : ""}` : null],
    ["video", v.codec ? `${v.codec} ${v.width}×${v.height} @ ${v.fps} fps` : null],
    ["counts", `${v.counts.detections} detections, ${v.counts.gps_points} GPS fixes, ${v.counts.plate_reads} plate reads`],
    ["video id", v.video_id],
  ];
  document.getElementById("meta").replaceChildren(...items.filter(([, x]) => x !== null && x !== undefined)
    .flatMap(([k, x]) => [h("dt", {}, k), h("dd", {}, x)]));
  document.querySelector("#stages tbody").replaceChildren(...(v.pipeline || []).map((p) => h("tr", {},
    h("td", {}, p.stage),
    h("td", { class: p.state === "complete" ? "ok" : p.state === "failed" ? "bad" : "" }, p.state),
    h("td", {}, p.device || "-"),
    h("td", {}, p.updated_at ? p.updated_at.replace("T", " ").replace(/\.\d+Z$/, "") : "-"),
    h("td", { class: "bad" }, p.error || ""))));
}

function watch(t) {
  clip.currentTime = t;
  clip.play().catch(() => {});
  plateBox(clip, document.getElementById("plate-box"), document.getElementById("box-caption"), id, t);
}

async function track() {
  const f = await api(`/api/videos/${enc}/track`);
  if (!f.geometry) {
    fit(map, []);
    document.getElementById("speed-legend").textContent = "No GPS in this video.";
    return;
  }
  const coords = f.geometry.type === "Point" ? [f.geometry.coordinates] : f.geometry.coordinates;
  const lls = coords.map(([lon, lat]) => [lat, lon]);
  const speed = f.properties.coordinateProperties.speed_kmh;
  const times = f.properties.coordinateProperties.offsets_s;
  for (let i = 1; i < lls.length; i += 1) {
    L.polyline([lls[i - 1], lls[i]], { color: speedColour(speed[i]), weight: 5, className: "track-segment" })
      .bindTooltip(`${speed[i] ?? "?"} km/h at ${seconds(times[i])}`)
      .on("click", () => { if (times[i] !== null) clip.currentTime = times[i]; })
      .addTo(map);
  }
  L.circleMarker(lls[0], { radius: 6, color: "#1b6e2c", fillOpacity: 1 }).bindTooltip("start").addTo(map);
  fit(map, lls);
  const legend = document.getElementById("speed-legend");
  legend.replaceChildren("speed km/h:", ...SPEED_BANDS.map(([k, label]) => h("span", { class: "nowrap" },
    h("span", { class: "sw", style: `background:${speedColour(k)}`, "aria-hidden": "true" }), label)),
  ` · ${f.properties.point_count} fixes`);
}

async function plates(v) {
  const body = await api(`/api/videos/${enc}/sightings`);
  const offset = localOffset(v);
  const tbody = document.querySelector("#plates tbody");
  const thumbs = await Promise.all(body.rows.map((s) => sightingThumbnail(s, s.video_id === id ? v.path.split("/").pop() : s.video_id)));
  tbody.replaceChildren(...body.rows.map((s, i) => h("tr", {},
    h("td", {}, h("a", { href: `/plates/${encodeURIComponent(s.plate)}` }, s.plate), " ", regionTag(s.region)),
    h("td", { class: "frame" }, thumbs[i]),
    h("td", {}, s.text_raw),
    h("td", { class: "n" }, s.confidence.toFixed(2)),
    h("td", {}, s.video_id === id
      ? h("button", { type: "button", class: "watch", onclick: () => watch(s.offset_s) }, `▶ ${seconds(s.offset_s)}`)
      : h("a", { href: `/videos/${encodeURIComponent(s.video_id)}?t=${s.offset_s}` }, `${s.video_id} @ ${seconds(s.offset_s)}`)),
    h("td", {}, bothTimes(s.first_seen, s.time_basis, offset)),
    h("td", {}, place(s.location)))));
  if (!body.rows.length) tbody.append(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "no plates read")));
  for (const s of body.rows) {
    if (s.location) {
      L.circleMarker([s.location.lat, s.location.lon], { radius: 8, color: "#0b57b0", fillOpacity: 0.8, className: "sighting-marker" })
        .bindTooltip(s.plate).addTo(map);
    }
  }
}

async function detections() {
  const q = new URLSearchParams({ limit: "50" });
  if (detNext) q.set("next", detNext);
  const body = await api(`/api/videos/${enc}/detections?${q}`);
  const tbody = document.querySelector("#detections tbody");
  for (const d of body.rows) {
    tbody.append(h("tr", {},
      h("td", {}, seconds(d.t)), h("td", {}, d.label), h("td", { class: "n" }, d.confidence.toFixed(2)),
      h("td", {}, [d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h].map((x) => x.toFixed(3)).join(", ")),
      h("td", { class: "n" }, d.track_id ?? "-")));
  }
  if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "no detections")));
  detNext = body.next;
  document.getElementById("more-det").hidden = !detNext;
}

async function main() {
  try {
    const v = (await api(`/api/videos/${enc}`)).video;
    document.getElementById("video-title").textContent = v.path || v.video_id;
    summary.textContent = `${v.vehicle} · ${v.channel} · ${bothTimes(v.start, v.time_basis, localOffset(v))}`;
    meta(v);
    playAt(clip, await mediaUrl(v.device, v.path), startAt, false);
    caption.textContent = startAt ? `from ${seconds(startAt)}` : "";
    if (startAt) plateBox(clip, document.getElementById("plate-box"), document.getElementById("box-caption"), id, startAt);
    clip.addEventListener("error", () => {
      caption.textContent = `The clip cannot be played here (${v.device}: ${v.path} is not reachable from this server, or not a format this browser plays).`;
    });
    await Promise.all([track(), plates(v), detections()]);
  } catch (err) {
    fail(summary, err);
  }
}

document.getElementById("more-det").addEventListener("click", () => detections().catch((e) => fail(summary, e)));
main();
