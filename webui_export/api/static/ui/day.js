// One day's videos, oldest first, in keyset pages (the API's `next`), filtered by vehicle.
import { api, bothTimes, fail, h, localOffset, seconds } from "./api.js";

const day = document.getElementById("day").dataset.day;
const tbody = document.querySelector("#videos tbody");
const summary = document.getElementById("videos-summary");
const more = document.getElementById("more");
const select = document.getElementById("vehicle");
const params = new URLSearchParams(location.search);
let vehicle = params.get("vehicle") || "";
const pageSize = /^[0-9]{1,3}$/.test(params.get("limit") || "") ? params.get("limit") : "25";
let next = null;
let shown = 0;
const vehicles = new Set(vehicle ? [vehicle] : []);

function addVehicles(rows) {
  for (const r of rows) vehicles.add(r.vehicle);
  const have = new Set([...select.options].map((o) => o.value));
  for (const v of [...vehicles].sort()) {
    if (!have.has(v)) select.append(h("option", { value: v }, v));
  }
  select.value = vehicle;
}

async function load(reset) {
  if (reset) {
    tbody.replaceChildren();
    next = null;
    shown = 0;
  }
  const start = new Date(`${day}T00:00:00Z`);
  const end = new Date(start.getTime() + 86400000);
  const q = new URLSearchParams({ after: start.toISOString(), before: end.toISOString(), order: "asc", limit: pageSize });
  if (vehicle) q.set("vehicle", vehicle);
  if (next) q.set("next", next);
  try {
    const body = await api(`/api/videos?${q}`);
    for (const v of body.rows) {
      shown += 1;
      tbody.append(h("tr", {},
        h("td", {}, bothTimes(v.start, v.time_basis, localOffset(v))),
        h("td", {}, h("a", { href: `?vehicle=${encodeURIComponent(v.vehicle)}` }, v.vehicle)),
        h("td", {}, v.channel),
        h("td", {}, h("a", { href: `/videos/${encodeURIComponent(v.video_id)}`, class: "id" }, v.path || v.video_id)),
        h("td", { class: "n" }, seconds(v.duration_s)),
        h("td", { class: v.status === "failed" ? "bad" : v.status === "complete" ? "ok" : "" }, v.status),
        h("td", { class: "n" }, v.counts.plate_reads),
        h("td", { class: "n" }, v.counts.detections)));
    }
    addVehicles(body.rows);
    next = body.next;
    more.hidden = !next;
    summary.textContent = shown
      ? `${shown} video${shown === 1 ? "" : "s"}${next ? " so far" : ""}${vehicle ? ` of ${vehicle}` : ""}`
      : `No videos on ${day}${vehicle ? ` for ${vehicle}` : ""}.`;
  } catch (err) {
    fail(summary, err);
  }
}

select.addEventListener("change", () => {
  vehicle = select.value;
  history.replaceState(null, "", vehicle ? `?vehicle=${encodeURIComponent(vehicle)}` : location.pathname);
  load(true);
});
more.addEventListener("click", () => load(false));
load(true);
