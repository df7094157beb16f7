// The operator's console: loads /ops/panel (with the token) and the rejected videos (the
// public API's /api/videos?status=rejected) and refreshes both in place every 10 s while the
// box is ticked, keeping the scroll position and the focused link.
import { api, fail, fragment, h } from "./api.js";

const panel = document.getElementById("ops-panel");
const auto = document.getElementById("auto-refresh");
const stamp = document.getElementById("ops-stamp");
const EVERY_MS = 10000;
const REJECTED_PAGE = 50;
const rejectedBody = document.querySelector("#rejected-videos tbody");
const rejectedSummary = document.getElementById("rejected-summary");
const rejectedMore = document.getElementById("rejected-more");
let rejectedPages = 1; // pages shown: a refresh reloads as many
let timer = null;

function rejectedRow(v) {
  const r = v.rejection || {};
  const at = r.at ? r.at.replace("T", " ").replace(/\.\d+Z$/, "") : "-";
  return h("tr", {},
    h("td", { class: "nowrap" }, at),
    h("td", {}, h("a", { href: `/videos/${encodeURIComponent(v.video_id)}`, class: "id" }, `${v.device}: ${v.path}`)),
    h("td", {}, `${r.inbox || "-"} · vehicle ${v.vehicle}`),
    h("td", { class: "bad" }, r.reason || "rejected", r.detail ? h("br") : null,
      r.detail ? h("small", { class: "muted" }, r.detail) : null));
}

async function loadRejected() {
  const rows = [];
  let next = null;
  try {
    for (let page = 0; page < rejectedPages; page += 1) {
      const q = new URLSearchParams({ status: "rejected", limit: String(REJECTED_PAGE) });
      if (next) q.set("next", next);
      const body = await api(`/api/videos?${q}`);
      rows.push(...body.rows);
      next = body.next;
      if (!next) break;
    }
  } catch (err) {
    fail(rejectedSummary, err);
    return;
  }
  rejectedBody.replaceChildren(...rows.map(rejectedRow));
  rejectedMore.hidden = !next;
  rejectedSummary.classList.remove("bad");
  rejectedSummary.textContent = rows.length
    ? `${rows.length} rejected file${rows.length === 1 ? "" : "s"}${next ? " shown (more below)" : ""}`
    : "No rejected files.";
}

async function refresh() {
  const x = window.scrollX;
  const y = window.scrollY;
  const active = document.activeElement;
  const focused = active && (panel.contains(active) || rejectedBody.contains(active))
    ? active.getAttribute("href") : null;
  const rejected = loadRejected();
  try {
    const html = await fragment(panel.dataset.src);
    panel.innerHTML = html;
    stamp.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    stamp.classList.remove("bad");
  } catch (err) {
    stamp.textContent = `refresh failed: ${err.message}`;
    stamp.classList.add("bad");
  }
  await rejected;
  window.scrollTo(x, y);
  if (focused) document.querySelector(`main [href="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (auto.checked) timer = setTimeout(refresh, EVERY_MS);
}

auto.addEventListener("change", schedule);
rejectedMore.addEventListener("click", () => {
  rejectedPages += 1;
  loadRejected();
});
document.getElementById("refresh-now").addEventListener("click", refresh);
refresh();
