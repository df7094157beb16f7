// The plate's box on the clip: the detector's `license_plate` box nearest the sighting's
// second (from /api/videos/<id>/detections), drawn over the video while it shows that moment.
import { api } from "./api.js";

const PLATE_LABEL = "license_plate"; // the reference detect worker's label for plates
const SHOW_WITHIN_S = 0.5;

/** Where the picture is inside the element (object-fit: contain letterboxes it). */
function pictureRect(video) {
  const w = video.clientWidth;
  const h = video.clientHeight;
  if (!video.videoWidth || !video.videoHeight) return { x: 0, y: 0, w, h };
  const scale = Math.min(w / video.videoWidth, h / video.videoHeight);
  const pw = video.videoWidth * scale;
  const ph = video.videoHeight * scale;
  return { x: (w - pw) / 2, y: (h - ph) / 2, w: pw, h: ph };
}

let current = null;

/** Draw the plate box near `t` seconds of `videoId` on `video`, using the overlay `box`. */
export async function plateBox(video, box, caption, videoId, t) {
  current = null;
  box.hidden = true;
  const q = new URLSearchParams({
    label: PLATE_LABEL, start_s: String(Math.max(0, t - 1)), end_s: String(t + 1), limit: "50",
  });
  let rows = [];
  try {
    rows = (await api(`/api/videos/${encodeURIComponent(videoId)}/detections?${q}`)).rows;
  } catch {
    rows = [];
  }
  if (!rows.length) {
    caption.textContent = "no plate box detected near this second";
    return;
  }
  const best = rows.reduce((a, b) => (Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a));
  current = { video, box, det: best };
  caption.textContent = `box: the detector's plate box at ${best.t.toFixed(1)} s`;
  place();
}

function place() {
  if (!current) return;
  const { video, box, det } = current;
  const near = Math.abs(video.currentTime - det.t) <= SHOW_WITHIN_S;
  box.hidden = !near;
  if (!near) return;
  const r = pictureRect(video);
  box.style.left = `${r.x + det.bbox.x * r.w}px`;
  box.style.top = `${r.y + det.bbox.y * r.h}px`;
  box.style.width = `${det.bbox.w * r.w}px`;
  box.style.height = `${det.bbox.h * r.h}px`;
}

for (const ev of ["timeupdate", "seeked", "loadedmetadata"]) {
  document.addEventListener(ev, place, true); // media events do not bubble: capture them
}
window.addEventListener("resize", place);
