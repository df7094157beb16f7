// The plate search box on every page: suggestions as one types (the API's OCR tolerance:
// O/0 I/1 B/8 S/5 Z/2 match), arrow keys to pick, Enter to open the plate's page.
import { api, h, regionTag } from "./api.js";

const form = document.querySelector("[data-plate-search]");
const input = document.getElementById("plate-q");
const list = document.getElementById("plate-suggestions");
let rows = [];
let active = -1;
let seq = 0;
let timer = null;

const open = (plate) => {
  location.href = `/plates/${encodeURIComponent(plate)}`;
};

function render() {
  list.replaceChildren(...rows.map((r, i) => h("li", {
    id: `plate-opt-${i}`, role: "option", "aria-selected": i === active ? "true" : "false",
    "data-plate": r.plate, onmousedown: (ev) => { ev.preventDefault(); open(r.plate); },
  }, h("strong", {}, r.plate), " ", ...(r.regions || []).map(regionTag), " ",
  h("span", { class: "muted" }, `${r.sightings} sighting${r.sightings === 1 ? "" : "s"}` +
    (r.variants.length > 1 ? ` · read as ${r.variants.join(", ")}` : "")))));
  list.hidden = rows.length === 0;
  input.setAttribute("aria-expanded", rows.length ? "true" : "false");
  if (active >= 0) input.setAttribute("aria-activedescendant", `plate-opt-${active}`);
  else input.removeAttribute("aria-activedescendant");
}

async function suggest() {
  const q = input.value.replace(/[^A-Za-z0-9]/g, "");
  const mine = ++seq;
  if (!q) {
    rows = [];
    render();
    return;
  }
  try {
    const body = await api(`/api/plates?q=${encodeURIComponent(q)}&limit=10`);
    if (mine !== seq) return;
    rows = body.rows;
  } catch {
    rows = [];
  }
  active = -1;
  render();
}

input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(suggest, 150);
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    if (!rows.length) return;
    ev.preventDefault();
    active = (active + (ev.key === "ArrowDown" ? 1 : rows.length - 1)) % rows.length;
    render();
  } else if (ev.key === "Escape") {
    rows = [];
    render();
  } else if (ev.key === "Enter" && active >= 0) {
    ev.preventDefault();
    open(rows[active].plate);
  }
});
input.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 150));
input.addEventListener("focus", () => { list.hidden = rows.length === 0; });
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = input.value.replace(/[^A-Za-z0-9]/g, "");
  if (q) open(rows.length ? rows[Math.max(active, 0)].plate : q);
});
