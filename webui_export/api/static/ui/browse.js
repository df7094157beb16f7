// Days with their video counts (from /api/stats), newest first; each links to its videos.
import { api, fail, h } from "./api.js";

const list = document.getElementById("days");
const summary = document.getElementById("days-summary");
const toDay = document.getElementById("to-day");
const span = document.getElementById("span");
const params = new URLSearchParams(location.search);
const iso = (d) => d.toISOString().slice(0, 10);

toDay.value = params.get("to") || iso(new Date());
span.value = params.get("span") || span.value;

async function load() {
  const last = new Date(`${toDay.value}T00:00:00Z`);
  const first = new Date(last.getTime() - (Number(span.value) - 1) * 86400000);
  summary.textContent = "Loading…";
  try {
    const body = await api(`/api/stats?from_day=${iso(first)}&to_day=${iso(last)}`);
    const days = body.index.videos_per_day.filter((d) => d.videos > 0).reverse();
    list.replaceChildren(...days.map((d) => h("li", {},
      h("a", { href: `/browse/${d.day}`, "data-day": d.day },
        h("strong", {}, d.videos), `video${d.videos === 1 ? "" : "s"} · `, d.day))));
    const total = days.reduce((n, d) => n + d.videos, 0);
    summary.textContent = days.length
      ? `${total} videos on ${days.length} days from ${iso(first)} to ${iso(last)} (UTC days)`
      : `No videos from ${iso(first)} to ${iso(last)}; pick an earlier date or a longer span.`;
  } catch (err) {
    fail(summary, err);
  }
}

document.getElementById("range").addEventListener("submit", (ev) => {
  ev.preventDefault();
  history.replaceState(null, "", `?to=${toDay.value}&span=${span.value}`);
  load();
});
load();
