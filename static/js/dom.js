// DOM helpers. Everything another person typed reaches the page as a text node
// (textContent / createTextNode): no HTML from the network is ever parsed.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "Send"}, "text", child)
 * Strings become text nodes; null/false children are skipped; arrays flatten.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "text") {
      el.textContent = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" || typeof child === "number"
      ? document.createTextNode(String(child)) : child);
  }
  return el;
}

/** An icon from the fixed set below (path data is ours, never the network's). */
export function icon(name, size = 18) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

const ICONS = {
  plus: ["M12 5v14", "M5 12h14"],
  send: ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"],
  users: ["M16 19v-1a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v1", "M9.5 10a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
    "M21 19v-1a4 4 0 0 0-3-3.8", "M15.5 4.2a3 3 0 0 1 0 5.6"],
  userPlus: ["M15 19v-1a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v1", "M9 10a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
    "M19 8v6", "M16 11h6"],
  leave: ["M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3", "M10 17l-5-5 5-5", "M5 12h11"],
  back: ["M15 18l-6-6 6-6"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  search: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M20 20l-4-4"],
  logout: ["M9 4H6a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h3", "M16 17l5-5-5-5", "M21 12H9"],
  retry: ["M4 12a8 8 0 0 1 14-5.3L20 9", "M20 4v5h-5", "M20 12a8 8 0 0 1-14 5.3L4 15",
    "M4 20v-5h5"],
  down: ["M12 5v14", "M6 13l6 6 6-6"],
  hash: ["M5 9h14", "M5 15h14", "M10 4L8 20", "M16 4l-2 16"],
  chat: ["M4 5h16v11H8l-4 4z"],
  smile: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8.5 14a4 4 0 0 0 7 0", "M9 9.5h.01",
    "M15 9.5h.01"],
  reply: ["M4 5h16v11h-9l-5 4v-4H4z", "M8 9h8", "M8 12h5"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
  bell: ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4z", "M10 20a2 2 0 0 0 4 0"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  mic: ["M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z", "M5 11a7 7 0 0 0 14 0",
    "M12 18v3", "M8 21h8"],
  up: ["M6 15l6-6 6 6"],
  play: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M10 8.5l5 3.5-5 3.5z"],
};

/** Two letters for an avatar. */
export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const first = [...words[0]][0] || "?";
  const last = words.length > 1 ? [...words[words.length - 1]][0] : "";
  return (first + last).toUpperCase();
}

// Avatar backgrounds, all dark enough for white text at 4.5:1 or better.
const PALETTE = ["#4338ca", "#0f766e", "#b45309", "#be185d", "#1d4ed8", "#7c3aed",
  "#047857", "#b91c1c", "#0e7490", "#6d28d9", "#a16207", "#374151"];

export function colorFor(id) {
  const n = Math.abs(Number(id) || 0);
  return PALETTE[(n * 7 + 3) % PALETTE.length];
}

export function avatar(user, extraClass = "") {
  const el = h("span", { class: `avatar ${extraClass}`.trim(), "aria-hidden": "true" },
    initials(user && (user.name || user.username)));
  el.style.background = colorFor(user && user.id);
  return el;
}

// --- text with links --------------------------------------------------------

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;

/** Message text as nodes: text nodes, and <a> for http(s) URLs (href checked). */
export function richText(body) {
  const out = [];
  let last = 0;
  for (const match of body.matchAll(URL_RE)) {
    if (match.index > last) out.push(document.createTextNode(body.slice(last, match.index)));
    let url;
    try {
      url = new URL(match[0]);
    } catch {
      url = null;
    }
    if (url && (url.protocol === "http:" || url.protocol === "https:")) {
      const a = document.createElement("a");
      a.href = url.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = match[0];
      out.push(a);
    } else {
      out.push(document.createTextNode(match[0]));
    }
    last = match.index + match[0].length;
  }
  if (last < body.length) out.push(document.createTextNode(body.slice(last)));
  return out;
}

// --- time -------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const longDateFmt = new Intl.DateTimeFormat(undefined,
  { weekday: "long", month: "long", day: "numeric" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

export function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export const formatTime = (ts) => timeFmt.format(new Date(ts));
export const formatFull = (ts) => fullFmt.format(new Date(ts));

/** Short stamp for the room list: time today, weekday this week, else date. */
export function formatShort(ts) {
  const today = startOfDay(Date.now());
  if (ts >= today) return timeFmt.format(new Date(ts));
  if (ts >= today - 6 * 86400000) return dayFmt.format(new Date(ts));
  return dateFmt.format(new Date(ts));
}

export function formatDay(ts) {
  const today = startOfDay(Date.now());
  const day = startOfDay(ts);
  if (day === today) return "Today";
  if (day === today - 86400000) return "Yesterday";
  return longDateFmt.format(new Date(ts));
}

export function formatAgo(ts) {
  if (!ts) return "Offline";
  const s = Math.max(0, (Date.now() - ts) / 1000);
  if (s < 60) return "Last seen just now";
  if (s < 3600) return `Last seen ${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `Last seen ${Math.floor(s / 3600)} h ago`;
  return `Last seen ${dateFmt.format(new Date(ts))}`;
}

/**
 * Keyed reconciliation: make `container`'s children the elements for `items`,
 * in order, reusing elements by key so focus and scroll survive updates.
 * create(item) → element; update(element, item) is called when item.version changed.
 */
export function reconcile(container, items, create, update) {
  const cache = container._keyed || (container._keyed = new Map());
  const seen = new Set();
  let cursor = container.firstChild;
  for (const item of items) {
    seen.add(item.key);
    let entry = cache.get(item.key);
    if (!entry) {
      entry = { el: create(item), version: item.version };
      cache.set(item.key, entry);
    } else if (entry.version !== item.version) {
      update(entry.el, item);
      entry.version = item.version;
    }
    if (entry.el !== cursor) container.insertBefore(entry.el, cursor);
    else cursor = cursor.nextSibling;
  }
  for (const [key, entry] of cache) {
    if (!seen.has(key)) {
      entry.el.remove();
      cache.delete(key);
    }
  }
}
