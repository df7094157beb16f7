// Shared helpers of the WebUI's modules: API calls with the bearer token, media URLs, formatting.
// The token (if the server needs one) is asked for once and kept in sessionStorage (this tab).
const TOKEN_KEY = "spoold-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function askToken() {
  const form = document.getElementById("token-form");
  if (!form) return Promise.reject(new Error("the server needs an API token"));
  form.hidden = false;
  const input = document.getElementById("token-input");
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      form.hidden = true;
      resolve();
    }, { once: true });
  });
}

/** GET a JSON document of the API; on 401 asks for the token and retries. */
export async function api(path) {
  for (;;) {
    const headers = { Accept: "application/json" };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const resp = await fetch(path, { headers });
    if (resp.status === 401) {
      await askToken();
      continue;
    }
    const body = await resp.json().catch(() => ({ ok: false, error: `HTTP ${resp.status}` }));
    if (!resp.ok) {
      const err = new Error(body.error || `HTTP ${resp.status}`);
      err.status = resp.status;
      throw err;
    }
    return body;
  }
}

/** GET an HTML fragment (the ops panel) with the token. */
export async function fragment(path) {
  for (;;) {
    const headers = {};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const resp = await fetch(path, { headers });
    if (resp.status === 401) {
      await askToken();
      continue;
    }
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    return resp.text();
  }
}

let signature = null;

/** `url` (a media or thumbnail URL, for <video>/<img>) with a media signature when the server
 * has a token. */
export async function signedUrl(url) {
  if (!signature || (signature.expires && Date.parse(signature.expires) - Date.now() < 120000)) {
    const s = await api("/api/media-signature");
    signature = { param: s.param, value: s.value, expires: s.expires_at };
  }
  if (!signature.value) return url;
  return `${url}${url.includes("?") ? "&" : "?"}${signature.param}=${encodeURIComponent(signature.value)}`;
}

/** The URL of a file on a storage root, signed when the server has a token. */
export function mediaUrl(root, path) {
  return signedUrl(`/api/media/${encodeURIComponent(root)}/${path.split("/").map(encodeURIComponent).join("/")}`);
}

/** The sighting's frame (/api/sightings/<id>/thumbnail.jpg): lazy, 160 px shown, 320 px
 * fetched (sharp on a 2x screen; the height attribute only reserves room until it loads); a
 * text instead when the server has none (clip archived before it was ever shown). */
export async function sightingThumbnail(s, clipName) {
  const src = await signedUrl(`/api/sightings/${encodeURIComponent(s.sighting_id)}/thumbnail.jpg?width=320`);
  const img = h("img", {
    class: "thumb", src, loading: "lazy", decoding: "async", width: 160, height: 120,
    alt: `frame of ${s.plate} at ${seconds(s.offset_s)} in ${clipName}, the plate outlined`,
  });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: "muted thumb-missing" }, "no frame (clip not available)")));
  return img;
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

/** Element helper: h("td", {class: "n"}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pad = (n) => String(n).padStart(2, "0");

function fmtOffset(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const m = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

function fmtDate(d) {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** The vehicle's UTC offset in minutes from a video (start_local - start_utc), or null. */
export function localOffset(video) {
  if (!video || !video.start_utc || !video.start_local) return null;
  const local = Date.parse(`${video.start_local.replace(/Z$/, "")}Z`);
  const utc = Date.parse(video.start_utc);
  if (Number.isNaN(local) || Number.isNaN(utc)) return null;
  return Math.round((local - utc) / 60000);
}

/**
 * A time shown as "UTC · vehicle local" (both when known).  `value` is read per `basis`:
 * "utc" (ISO with Z), "local" (camera clock, no zone) or "none".
 */
export function bothTimes(value, basis, offsetMin) {
  if (!value || basis === "none") return "no time known";
  const t = Date.parse(basis === "local" ? `${value.replace(/Z$/, "")}Z` : value);
  if (Number.isNaN(t)) return value;
  if (basis === "local") {
    const local = `${fmtDate(new Date(t))} local`;
    if (offsetMin === null || offsetMin === undefined) return `${local} (camera clock, zone unknown)`;
    return `${fmtDate(new Date(t - offsetMin * 60000))} UTC · ${local}`;
  }
  const utc = `${fmtDate(new Date(t))} UTC`;
  if (offsetMin === null || offsetMin === undefined) return `${utc} · local time unknown`;
  return `${utc} · ${fmtDate(new Date(t + offsetMin * 60000))} ${fmtOffset(offsetMin)}`;
}

export function place(loc) {
  if (!loc) return "no GPS fix";
  return `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}`;
}

/** The plate-format region (UK, DE, US, ...) shown beside a plate's text; null when the
 * read matched no format or predates regions. */
export function regionTag(region) {
  if (!region) return null;
  return h("abbr", { class: "region", title: `plate format of region ${region}` }, region);
}

export function seconds(s) {
  if (s === null || s === undefined) return "-";
  const m = Math.floor(s / 60);
  return m ? `${m}:${pad(Math.floor(s % 60))}.${Math.floor((s % 1) * 10)}` : `${s.toFixed(1)} s`;
}

/** Show an error in a status element. */
export function fail(el, err) {
  el.textContent = `Error: ${err.message}`;
  el.classList.add("bad");
}

/** Cache of video documents by id (a page asks for each video once). */
const videos = new Map();
export function video(id) {
  if (!videos.has(id)) {
    videos.set(id, api(`/api/videos/${encodeURIComponent(id)}`).then((b) => b.video).catch(() => null));
  }
  return videos.get(id);
}

/** Seek a video element to `t` seconds once it can, and play if allowed (muted autoplay). */
export function playAt(el, url, t, autoplay = true) {
  const seek = () => {
    el.currentTime = Math.max(0, t);
  };
  if (el.dataset.src !== url) {
    el.dataset.src = url;
    el.src = url;
    el.addEventListener("loadedmetadata", seek, { once: true });
  } else if (el.readyState >= 1) {
    seek();
  } else {
    el.addEventListener("loadedmetadata", seek, { once: true });
  }
  if (autoplay) {
    el.muted = true; // browsers allow a muted clip to start without a gesture
    el.play().catch(() => {});
  }
}

// Tables marked "cards" become one card per row on a phone (CSS): each cell shows its
// column's header as a label, copied here whenever rows are added.
function labelRows(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const tr of table.tBodies[0]?.rows || []) {
    [...tr.cells].forEach((td, i) => {
      if (names[i] && !td.hasAttribute("colspan")) td.dataset.label = names[i];
    });
  }
}
for (const table of document.querySelectorAll("table.cards")) {
  labelRows(table);
  new MutationObserver(() => labelRows(table)).observe(table.tBodies[0], { childList: true });
}
