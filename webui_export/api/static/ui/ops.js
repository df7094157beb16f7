// The operator's console: loads /ops/panel (with the token) and refreshes it in place every
// 10 s while the box is ticked, keeping the scroll position and the focused link.
import { fragment } from "./api.js";

const panel = document.getElementById("ops-panel");
const auto = document.getElementById("auto-refresh");
const stamp = document.getElementById("ops-stamp");
const EVERY_MS = 10000;
let timer = null;

async function refresh() {
  const x = window.scrollX;
  const y = window.scrollY;
  const focused = document.activeElement && panel.contains(document.activeElement)
    ? document.activeElement.getAttribute("href") : null;
  try {
    const html = await fragment(panel.dataset.src);
    panel.innerHTML = html;
    stamp.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    stamp.classList.remove("bad");
  } catch (err) {
    stamp.textContent = `refresh failed: ${err.message}`;
    stamp.classList.add("bad");
  }
  window.scrollTo(x, y);
  if (focused) panel.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (auto.checked) timer = setTimeout(refresh, EVERY_MS);
}

auto.addEventListener("change", schedule);
document.getElementById("refresh-now").addEventListener("click", refresh);
refresh();
