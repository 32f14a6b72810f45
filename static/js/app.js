// The Colloquy browser client: wires the connection and the store to the page.
// Rendering is keyed (dom.reconcile), so live updates keep focus and scroll.

import { Connection } from "./connection.js";
import {
  avatar, formatAgo, formatDay, formatFull, formatShort, formatTime, h, icon, reconcile,
  richText, startOfDay,
} from "./dom.js";
import { createPicker, dot } from "./picker.js";
import { Store } from "./store.js";

const $ = (id) => document.getElementById(id);
const PHONE = window.matchMedia("(max-width: 700px)");
const GROUP_GAP_MS = 5 * 60 * 1000; // consecutive messages closer than this share a header
const NEAR_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 300;

const conn = new Connection();
const store = new Store(conn);
const drafts = new Map(); // room id → unsent text in the composer
let renderedRoomId = null;
let membersOpen = false;
let roomFilter = "";

// Visible for tests and for debugging from the console; holds no secrets.
window.colloquy = { conn, store };

// --- static icons -----------------------------------------------------------------

for (const el of document.querySelectorAll("[data-icon]")) {
  const svg = icon(el.dataset.icon, Number(el.dataset.size) || 18);
  if (el.className) el.replaceChildren(svg); // a styled holder keeps its box
  else el.replaceWith(svg);
}

// --- rendering ----------------------------------------------------------------

let frame = 0;
function scheduleRender() {
  if (!frame) frame = requestAnimationFrame(render);
}
store.addEventListener("change", scheduleRender);
conn.addEventListener("state", scheduleRender);

function render() {
  frame = 0;
  renderMe();
  renderConnection();
  renderRoomList();
  renderRoom();
  renderMembers();
  const unread = store.totalUnread();
  document.title = unread ? `(${unread > 99 ? "99+" : unread}) Colloquy` : "Colloquy";
}

function renderMe() {
  const me = store.me;
  if (!me || $("me-name").textContent) return;
  $("me-avatar").replaceWith(Object.assign(avatar(me, "avatar-sm"), { id: "me-avatar" }));
  $("me-name").textContent = me.name || me.username;
  $("me-username").textContent = `@${me.username}`;
}

let retryTicker = null;
function renderConnection() {
  const box = $("conn-status");
  const { state } = conn;
  clearInterval(retryTicker);
  if (state === "open" || state === "idle") {
    box.hidden = true;
    box.dataset.state = state;
    return;
  }
  box.hidden = false;
  box.dataset.state = state;
  if (state === "closed") {
    box.replaceChildren(h("span", { class: "conn-dot" }),
      "Disconnected: this account can no longer sign in.");
    return;
  }
  const label = h("span", null, state === "connecting" ? "Connecting…" : "Reconnecting…");
  const parts = [h("span", { class: "conn-dot" }), label];
  if (state === "reconnecting" && conn.retryTimer) {
    const tick = () => {
      const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
      label.textContent = s > 1 ? `Reconnecting in ${s}s…` : "Reconnecting…";
    };
    tick();
    retryTicker = setInterval(tick, 500);
    parts.push(h("button", { type: "button", class: "link-button", onclick: () => conn.retryNow() },
      "Retry now"));
  }
  box.replaceChildren(...parts);
}

// --- room list ----------------------------------------------------------------

// True while a pointer is pressed on the room list (see renderRoomList).
let listHeld = false;
$("room-list").addEventListener("pointerdown", () => { listHeld = true; });
for (const type of ["pointerup", "pointercancel"]) {
  // The click follows pointerup in the same task, before the next frame's render.
  window.addEventListener(type, () => {
    if (!listHeld) return;
    listHeld = false;
    scheduleRender();
  }, true);
}

function renderRoomList() {
  const list = $("room-list");
  const filter = roomFilter.trim().toLowerCase();
  const rooms = store.sortedRooms().filter((r) => !filter
    || store.displayName(r).toLowerCase().includes(filter));
  const items = rooms.map((room) => {
    const partner = store.partner(room);
    const status = partner ? store.statusOf(partner.id) : "";
    return {
      key: room.id, room,
      version: `${room.version}|${store.currentId === room.id}|${status}|${store.displayName(room)}`
        + `|${typingText(room)}`,
    };
  });
  if (listHeld) {
    // A press is under way: rows keep their places until it ends, so the row
    // under the pointer at mousedown is still the one there at mouseup.
    const place = new Map([...list.children].map((li, i) => [li._roomId, i]));
    items.sort((a, b) => (place.get(a.key) ?? Infinity) - (place.get(b.key) ?? Infinity));
  }
  reconcile(list, items, createRoomItem, updateRoomItem);
  const empty = $("rooms-empty");
  if (!store.listLoaded) {
    empty.hidden = false;
    empty.textContent = "Loading conversations…";
  } else if (!rooms.length) {
    empty.hidden = false;
    empty.textContent = filter ? "No conversation matches." : "No conversations yet. Start one with New.";
  } else {
    empty.hidden = true;
  }
}

// A room's row is built once and then only its text and classes change: a click
// that lands while events arrive must find the same nodes under the pointer
// (a replaced child between mousedown and mouseup loses the click).
function createRoomItem(item) {
  const { room } = item;
  const part = (cls, tag = "span") => h(tag, { class: cls });
  const parts = {
    pic: part("avatar"),
    picFor: undefined, // the partner id the picture was drawn for
    dot: null,
    name: part("room-name"),
    time: part("room-time", "time"),
    preview: part("room-preview"),
    badge: h("span", { class: "badge", "aria-hidden": "true" }),
    sr: part("sr-only"),
  };
  const button = h("button", { type: "button", class: "room-item", dataset: { roomId: room.id } },
    parts.pic,
    h("span", { class: "room-text" },
      h("span", { class: "room-line" }, parts.name, parts.time),
      h("span", { class: "room-line" }, parts.preview, parts.badge)),
    parts.sr);
  button.addEventListener("click", () => openRoom(room.id, { focusComposer: !PHONE.matches }));
  const li = h("li", null, button);
  li._roomId = room.id;
  li._parts = parts;
  updateRoomItem(li, item);
  return li;
}

/** The row's picture: the partner's avatar and presence dot, or a room glyph. */
function roomPicture(parts, room, partner) {
  const direct = room.kind === "direct" && partner;
  const key = direct ? partner.id : null;
  if (parts.picFor === key) return;
  // Drawn again only when a direct room's partner becomes known (members load later).
  parts.picFor = key;
  parts.dot = direct ? dot("offline") : null;
  const pic = direct ? h("span", { class: "avatar-wrap" }, avatar(partner), parts.dot)
    : h("span", { class: "avatar room-glyph", "aria-hidden": "true" }, icon("hash", 18));
  parts.pic.replaceWith(pic);
  parts.pic = pic;
}

function updateRoomItem(li, { room }) {
  const button = li.firstChild;
  const parts = li._parts;
  const partner = store.partner(room);
  const current = store.currentId === room.id;
  button.classList.toggle("is-current", current);
  button.classList.toggle("has-unread", room.unread > 0);
  if (current) button.setAttribute("aria-current", "page");
  else button.removeAttribute("aria-current");
  const last = room.last_message;
  let preview = "No messages yet";
  if (last) {
    const who = store.me && last.author.id === store.me.id ? "You"
      : room.kind === "direct" ? "" : (last.author.name || last.author.username).split(" ")[0];
    preview = (who ? `${who}: ` : "") + last.body.replace(/\s+/g, " ");
  }
  const status = partner ? store.statusOf(partner.id) : null;
  roomPicture(parts, room, partner);
  if (parts.dot) parts.dot.className = `dot dot-${status}`;
  const typing = typingText(room);
  parts.name.textContent = store.displayName(room);
  if (last) {
    parts.time.dateTime = new Date(last.ts).toISOString();
    parts.time.textContent = formatShort(last.ts);
    if (!parts.time.parentNode) parts.name.after(parts.time);
  } else {
    parts.time.remove();
  }
  parts.preview.textContent = typing || preview;
  parts.preview.classList.toggle("is-typing", !!typing);
  // The badge node is kept and only attached while there is something unread.
  if (room.unread > 0) {
    parts.badge.dataset.unread = room.unread;
    parts.badge.textContent = room.unread >= 100 ? "99+" : String(room.unread);
    if (!parts.badge.parentNode) parts.preview.after(parts.badge);
  } else {
    parts.badge.remove();
  }
  parts.sr.textContent = [
    status ? `, ${status}` : "",
    room.unread > 0 ? `, ${room.unread} unread` : "",
  ].join("");
}

$("room-list").addEventListener("keydown", (e) => {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
  const buttons = [...$("room-list").querySelectorAll(".room-item")];
  const i = buttons.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  const next = e.key === "Home" ? 0 : e.key === "End" ? buttons.length - 1
    : Math.max(0, Math.min(buttons.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)));
  buttons[next].focus();
});

$("room-filter").addEventListener("input", (e) => {
  roomFilter = e.target.value;
  scheduleRender();
});
$("room-filter").addEventListener("keydown", (e) => {
  if (e.key === "ArrowDown") {
    const first = $("room-list").querySelector(".room-item");
    if (first) {
      e.preventDefault();
      first.focus();
    }
  } else if (e.key === "Enter") {
    const first = $("room-list").querySelector(".room-item");
    if (first) first.click();
  }
});

// --- opening rooms ------------------------------------------------------------------

function openRoom(id, { focusComposer = false } = {}) {
  saveDraft();
  store.openRoom(id);
  document.body.classList.add("in-room");
  render();
  if (focusComposer) $("composer-input").focus();
  else if (PHONE.matches) $("room-title").focus({ preventScroll: true });
}

function closeRoomView() {
  saveDraft();
  store.closeRoom();
  document.body.classList.remove("in-room");
  membersOpen = false;
  render();
}

store.addEventListener("closed-room", (e) => {
  document.body.classList.remove("in-room");
  membersOpen = false;
  toast(`You are no longer in ${store.displayName(e.detail.room)}.`);
});

function saveDraft() {
  if (renderedRoomId !== null) drafts.set(renderedRoomId, $("composer-input").value);
}

// --- the room view ------------------------------------------------------------------

function renderRoom() {
  const room = store.current;
  $("no-room").hidden = !!room;
  $("room-view").hidden = !room;
  if (!room) {
    renderedRoomId = null;
    return;
  }
  const switched = renderedRoomId !== room.id;
  if (switched) {
    renderedRoomId = room.id;
    $("messages")._keyed = null;
    $("messages").replaceChildren();
    const input = $("composer-input");
    input.value = drafts.get(room.id) || "";
    autosize(input);
  }
  renderRoomHead(room);
  renderTimeline(room, switched);
  renderTyping(room);
  renderComposer(room);
}

function renderRoomHead(room) {
  const name = store.displayName(room);
  const partner = store.partner(room);
  $("room-title").textContent = name;
  $("room-title").tabIndex = -1;
  const pic = partner
    ? h("span", { class: "avatar-wrap" }, avatar(partner), dot(store.statusOf(partner.id)))
    : h("span", { class: "avatar room-glyph", "aria-hidden": "true" }, icon("hash", 18));
  $("room-avatar").replaceChildren(pic);
  let sub = "";
  if (partner) {
    const status = store.statusOf(partner.id);
    sub = status === "online" ? "Online" : status === "away" ? "Away"
      : formatAgo((store.presence.get(partner.id) || {}).last_seen);
  } else if (room.members) {
    const n = room.members.size;
    const online = [...room.members.keys()].filter((id) => store.statusOf(id) === "online").length;
    sub = `${n} member${n === 1 ? "" : "s"} · ${online} online`;
  }
  $("room-sub").textContent = sub;
  $("members-count").textContent = room.members ? `Members · ${room.members.size}` : "Members";
  $("btn-invite").hidden = room.kind === "direct";
  $("btn-members").setAttribute("aria-expanded", String(membersOpen));
  $("composer-label").textContent = `Message ${name}`;
  $("composer-input").placeholder = room.kind === "direct" ? `Message ${name}` : `Message #${name}`;
}

function timelineItems(room) {
  const out = [];
  let prev = null; // previous message item, for grouping
  let day = null;
  let dividerDone = room.divider === null;
  const me = store.me ? store.me.id : null;
  for (const item of store.timelineOf(room)) {
    if (item.kind === "message") {
      const d = startOfDay(item.ts);
      if (d !== day) {
        day = d;
        out.push({ key: `d:${d}`, kind: "day", ts: item.ts, version: formatDay(item.ts) });
        prev = null;
      }
      if (!dividerDone && item.seq && item.seq > room.divider && item.author.id !== me) {
        dividerDone = true;
        out.push({ key: "new", kind: "divider", version: 0 });
        prev = null;
      }
      const compact = !!prev && prev.author.id === item.author.id && item.ts - prev.ts < GROUP_GAP_MS;
      out.push({ key: item.key, kind: "message", item, compact,
        version: `${item.version}|${item.status}|${compact}` });
      prev = item;
    } else {
      out.push({ key: item.key, kind: "system", item, version: item.version });
      prev = null;
    }
  }
  return out;
}

function renderTimeline(room, switched) {
  const scroller = $("timeline");
  const list = $("messages");
  const atBottom = isNearBottom();
  const firstBefore = list.firstChild;
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;
  reconcile(list, timelineItems(room), createTimelineNode, updateTimelineNode);
  scroller.setAttribute("aria-busy", String(!room.timeline || room.loadingOlder));
  const status = $("history-status");
  if (!room.timeline) status.textContent = "Loading messages…";
  else if (room.loadingOlder) status.textContent = "Loading earlier messages…";
  else if (!room.hasOlder) status.textContent = room.kind === "direct"
    ? "This is the beginning of your conversation." : "This is the beginning of the room.";
  else status.textContent = "";

  if (switched || scroller.dataset.room !== String(room.id)) {
    scroller.dataset.room = String(room.id);
    const divider = list.querySelector(".divider");
    if (divider) divider.scrollIntoView({ block: "center" });
    else scroller.scrollTop = scroller.scrollHeight;
  } else if (atBottom) {
    scroller.scrollTop = scroller.scrollHeight;
  } else if (firstBefore && list.firstChild !== firstBefore) {
    // Older messages were added above: keep what the reader is looking at still.
    scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
  }
  // Fill the screen: a short page leaves nothing to scroll, so fetch more.
  if (room.timeline && room.hasOlder && !room.loadingOlder
      && scroller.scrollHeight <= scroller.clientHeight + LOAD_OLDER_PX) {
    store.loadOlder(room);
  }
  updateJump(room);
  if (store.isReading(room.id)) store.markRead(room);
}

function createTimelineNode(entry) {
  let el;
  if (entry.kind === "day") {
    el = h("li", { class: "day", role: "separator" }, h("span", null, formatDay(entry.ts)));
  } else if (entry.kind === "divider") {
    el = h("li", { class: "divider", role: "separator" }, h("span", null, "New messages"));
  } else {
    el = h("li");
    updateTimelineNode(el, entry);
  }
  return el;
}

function updateTimelineNode(el, entry) {
  if (entry.kind === "day") {
    el.firstChild.textContent = formatDay(entry.ts);
    return;
  }
  if (entry.kind === "system") {
    el.className = "sys";
    el.replaceChildren(h("span", null, systemText(entry.item)));
    return;
  }
  const m = entry.item;
  const mine = store.me && m.author.id === store.me.id;
  el.className = ["msg", entry.compact ? "compact" : "", mine ? "mine" : "",
    m.status !== "sent" ? `is-${m.status}` : ""].filter(Boolean).join(" ");
  el.dataset.key = m.key;
  if (m.seq) el.dataset.seq = m.seq;
  else delete el.dataset.seq;
  el.dataset.status = m.status;
  const author = m.author.name || m.author.username;
  const time = h("time", { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts) },
    formatTime(m.ts));
  const children = [
    entry.compact ? h("span", { class: "gutter" }, time.cloneNode(true)) : avatar(m.author),
    h("div", { class: "msg-main" },
      entry.compact ? h("span", { class: "sr-only" }, `${author}, ${formatTime(m.ts)}: `)
        : h("div", { class: "msg-meta" }, h("span", { class: "author" }, author), time),
      m.deleted ? h("p", { class: "msg-text deleted" }, "This message was deleted.")
        : h("p", { class: "msg-text" }, richText(m.body),
          m.edition > 1 ? h("span", { class: "edited", title: m.edited_at
            ? `Edited ${formatFull(m.edited_at)}` : "Edited" }, " (edited)") : null),
      reactionChips(m),
      messageState(m)),
  ];
  el.replaceChildren(...children);
}

function reactionChips(m) {
  if (!m.reactions || m.reactions.size === 0) return null;
  return h("ul", { class: "reactions", "aria-label": "Reactions" },
    ...[...m.reactions.values()].map((c) => h("li", {
      class: c.mine ? "reaction mine" : "reaction", title: c.mine ? "You reacted" : null,
    }, h("span", { class: "emoji" }, /^[a-z0-9_+-]+$/.test(c.emoji) ? `:${c.emoji}:` : c.emoji), h("span", { class: "count" }, String(c.count)))));
}

function messageState(m) {
  if (m.status === "sent") return null;
  if (m.status === "sending") return h("p", { class: "msg-state" }, "Sending…");
  if (m.status === "queued") return h("p", { class: "msg-state" }, "Waiting for connection…");
  const room = store.rooms.get(m.roomId);
  // Worth retrying only when the refusal was about the moment, not the message.
  const transient = ["rate_limited", "internal", "timeout"].includes(m.code);
  return h("p", { class: "msg-state failed", role: "alert" },
    h("span", null, `Not sent: ${m.error || "refused by the server"}`),
    transient
      ? h("button", { type: "button", class: "link-button", onclick: () => room && store.retry(room, m.key) },
        icon("retry", 14), "Retry")
      : h("button", { type: "button", class: "link-button", onclick: () => room && editFailed(room, m.key) },
        "Edit"),
    h("button", { type: "button", class: "link-button", onclick: () => room && store.discard(room, m.key) },
      "Discard"));
}

function editFailed(room, key) {
  const input = $("composer-input");
  const text = store.edit(room, key);
  if (!input.value.trim()) input.value = text;
  else input.value = `${input.value}\n${text}`;
  autosize(input);
  renderComposer();
  input.focus();
}

function systemText(item) {
  const d = item.data;
  const who = (u) => (u ? u.name || u.username : "Someone");
  if (item.type === "room.created") {
    return d.room && d.room.kind === "direct" ? `${who(d.by)} started this conversation`
      : `${who(d.by)} created ${d.room ? d.room.name : "the room"}`;
  }
  if (item.type === "member.joined") {
    return d.by && d.user && d.by.id === d.user.id ? `${who(d.user)} rejoined`
      : `${who(d.by)} added ${who(d.user)}`;
  }
  if (item.type === "member.left") return `${who(d.user)} left`;
  return "";
}

function isNearBottom() {
  const s = $("timeline");
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

store.isReading = (roomId) => store.currentId === roomId && !$("room-view").hidden
  && document.visibilityState === "visible" && renderedRoomId === roomId && isNearBottom();

function updateJump(room) {
  const near = isNearBottom();
  const button = $("btn-jump");
  button.hidden = near;
  $("jump-label").textContent = room.unread > 0 ? `${room.unread} new` : "Latest";
}

$("timeline").addEventListener("scroll", () => {
  const room = store.current;
  if (!room) return;
  if ($("timeline").scrollTop < LOAD_OLDER_PX) store.loadOlder(room);
  updateJump(room);
  if (store.isReading(room.id)) store.markRead(room);
}, { passive: true });

$("btn-jump").addEventListener("click", () => {
  const s = $("timeline");
  s.scrollTo({ top: s.scrollHeight, behavior: "smooth" });
});

document.addEventListener("visibilitychange", () => {
  const room = store.current;
  if (room && store.isReading(room.id)) store.markRead(room);
});
window.addEventListener("focus", () => {
  const room = store.current;
  if (room && store.isReading(room.id)) store.markRead(room);
});

function typingText(room) {
  const names = [...room.typing.values()].map((t) => t.user.name || t.user.username);
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length > 2) return "Several people are typing…";
  return "";
}

function renderTyping(room) {
  const text = typingText(room);
  const box = $("typing");
  if (box.textContent !== text) {
    box.replaceChildren(...(text ? [h("span", { class: "typing-dots", "aria-hidden": "true" },
      h("i"), h("i"), h("i")), h("span", null, text)] : []));
  }
}

// --- composer -------------------------------------------------------------------------

function maxBody() {
  return (conn.hello && conn.hello.limits && conn.hello.limits.max_body_chars) || 10000;
}

function renderComposer() {
  const input = $("composer-input");
  const n = input.value.length;
  const max = maxBody();
  const counter = $("composer-counter");
  counter.textContent = n > max * 0.9 ? `${n.toLocaleString()} / ${max.toLocaleString()}` : "";
  counter.classList.toggle("over", n > max);
  $("btn-send").disabled = !input.value.trim();
}

function autosize(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

$("composer-input").addEventListener("input", (e) => {
  const room = store.current;
  autosize(e.target);
  renderComposer();
  if (room) store.typing(room, e.target.value.trim().length > 0);
});

$("composer-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = store.current;
  const input = $("composer-input");
  const body = input.value;
  if (!room || !body.trim()) return;
  store.send(room, body);
  input.value = "";
  drafts.delete(room.id);
  autosize(input);
  renderComposer();
  render();
  $("timeline").scrollTop = $("timeline").scrollHeight;
  input.focus();
});

// --- members panel -----------------------------------------------------------------

function renderMembers() {
  const panel = $("members-panel");
  const room = store.current;
  const open = membersOpen && !!room;
  panel.hidden = !open;
  document.body.classList.toggle("members-open", open);
  if (!open) return;
  const members = room.members ? [...room.members.values()] : [];
  const rank = { online: 0, away: 1, offline: 2 };
  members.sort((a, b) => rank[store.statusOf(a.id)] - rank[store.statusOf(b.id)]
    || (a.name || a.username).localeCompare(b.name || b.username));
  $("members-title").textContent = `Members · ${members.length}`;
  const items = members.map((u) => ({ key: u.id, u, version: `${store.statusOf(u.id)}|${u.name}` }));
  const make = (item) => {
    const li = h("li");
    fillMember(li, item);
    return li;
  };
  const fillMember = (li, { u }) => {
    const status = store.statusOf(u.id);
    const me = store.me && u.id === store.me.id;
    li.className = "member";
    li.replaceChildren(h("span", { class: "avatar-wrap" }, avatar(u, "avatar-sm"), dot(status)),
      h("span", { class: "member-text" },
        h("span", { class: "member-name" }, u.name || u.username, me ? h("span", { class: "you" }, " (you)") : null),
        h("span", { class: "member-status" }, status === "online" ? "Online" : status === "away" ? "Away"
          : formatAgo((store.presence.get(u.id) || {}).last_seen))));
  };
  reconcile($("member-list"), items, make, fillMember);
}

$("btn-members").addEventListener("click", () => {
  membersOpen = !membersOpen;
  render();
  if (membersOpen) $("btn-members-close").focus();
});
$("btn-members-close").addEventListener("click", () => {
  membersOpen = false;
  render();
  $("btn-members").focus();
});
$("btn-back").addEventListener("click", () => {
  const id = store.currentId;
  closeRoomView();
  const item = document.querySelector(`.room-item[data-room-id="${id}"]`);
  if (item) item.focus();
});

// --- dialogs ---------------------------------------------------------------------

for (const dlg of document.querySelectorAll("dialog")) {
  for (const b of dlg.querySelectorAll("[data-close]")) b.addEventListener("click", () => dlg.close());
  // A click on the backdrop closes, like Escape.
  dlg.addEventListener("click", (e) => {
    if (e.target === dlg) dlg.close();
  });
}

let newPicker = null;
function openNewDialog() {
  const dlg = $("dlg-new");
  $("form-new").reset();
  $("new-error").textContent = "";
  setKind("direct");
  dlg.showModal();
  newPicker.focus();
}

function setKind(kind) {
  const group = kind === "group";
  $("group-name-field").hidden = !group;
  newPicker = createPicker({ store, multiple: group, onChange: updateNewSubmit });
  $("new-picker").replaceChildren(newPicker.el);
  $("new-submit").textContent = group ? "Create room" : "Start conversation";
  updateNewSubmit();
}

function updateNewSubmit() {
  const group = $("kind-group").checked;
  const picked = newPicker ? newPicker.selected().length : 0;
  $("new-submit").disabled = group ? !$("group-name").value.trim() : picked !== 1;
}

for (const radio of document.querySelectorAll('input[name="kind"]')) {
  radio.addEventListener("change", () => {
    setKind(radio.value);
    if (radio.value === "group") $("group-name").focus();
  });
}
$("group-name").addEventListener("input", updateNewSubmit);

$("form-new").addEventListener("submit", async (e) => {
  e.preventDefault();
  const group = $("kind-group").checked;
  const usernames = newPicker.selected().map((u) => u.username);
  const submit = $("new-submit");
  submit.disabled = true;
  $("new-error").textContent = "";
  try {
    const room = await store.createRoom(group ? "group" : "direct",
      group ? $("group-name").value.trim() : "", usernames);
    $("dlg-new").close();
    openRoom(room.id, { focusComposer: true });
  } catch (err) {
    $("new-error").textContent = err.message;
  } finally {
    updateNewSubmit();
  }
});

let invitePicker = null;
function openInviteDialog() {
  const room = store.current;
  if (!room || room.kind === "direct") return;
  const exclude = new Set(room.members ? room.members.keys() : []);
  invitePicker = createPicker({
    store, multiple: true, exclude,
    onChange: (sel) => {
      $("invite-submit").disabled = sel.length === 0;
      $("invite-submit").textContent = sel.length > 1 ? `Invite ${sel.length}` : "Invite";
    },
  });
  $("invite-picker").replaceChildren(invitePicker.el);
  $("dlg-invite-title").textContent = `Invite to ${store.displayName(room)}`;
  $("invite-error").textContent = "";
  $("invite-submit").disabled = true;
  $("invite-submit").textContent = "Invite";
  $("dlg-invite").showModal();
  invitePicker.focus();
}

$("form-invite").addEventListener("submit", async (e) => {
  e.preventDefault();
  const room = store.current;
  const users = invitePicker.selected();
  if (!room || !users.length) return;
  $("invite-submit").disabled = true;
  try {
    const reply = await store.invite(room, users.map((u) => u.username));
    $("dlg-invite").close();
    const added = users.filter((u) => reply.added.includes(u.username)).map((u) => u.name || u.username);
    toast(added.length ? `Added ${added.join(", ")}.` : "Everyone picked is already a member.");
  } catch (err) {
    $("invite-error").textContent = err.message;
    $("invite-submit").disabled = false;
  }
});

function openLeaveDialog() {
  const room = store.current;
  if (!room) return;
  $("leave-text").textContent = room.kind === "direct"
    ? `You will leave your conversation with ${store.displayName(room)}.`
    : `You will stop receiving messages from ${store.displayName(room)}. Someone in the room can invite you back.`;
  $("dlg-leave-title").textContent = `Leave ${store.displayName(room)}?`;
  $("leave-error").textContent = "";
  $("dlg-leave").showModal();
}

$("form-leave").addEventListener("submit", async (e) => {
  e.preventDefault();
  const room = store.current;
  if (!room) return;
  try {
    await store.leave(room);
    $("dlg-leave").close();
  } catch (err) {
    $("leave-error").textContent = err.message;
  }
});

$("btn-new").addEventListener("click", openNewDialog);
$("btn-invite").addEventListener("click", openInviteDialog);
$("btn-leave").addEventListener("click", openLeaveDialog);

// --- toasts, shortcuts, logout ----------------------------------------------------

function toast(message, kind = "info") {
  const el = h("div", { class: `toast toast-${kind}` }, message);
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 4000);
}
store.addEventListener("notice", (e) => toast(e.detail.message, e.detail.kind));

document.addEventListener("keydown", (e) => {
  if (document.querySelector("dialog[open]")) return;
  if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    const rooms = store.sortedRooms();
    if (!rooms.length) return;
    e.preventDefault();
    const i = rooms.findIndex((r) => r.id === store.currentId);
    const next = i < 0 ? 0 : (i + (e.key === "ArrowDown" ? 1 : -1) + rooms.length) % rooms.length;
    openRoom(rooms[next].id, { focusComposer: true });
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
    e.preventDefault();
    if (PHONE.matches) closeRoomView();
    $("room-filter").focus();
    $("room-filter").select();
  } else if (e.altKey && e.key.toLowerCase() === "n") {
    e.preventDefault();
    openNewDialog();
  } else if (e.key === "Escape" && membersOpen) {
    membersOpen = false;
    render();
    $("btn-members").focus();
  } else if (e.key === "Escape" && PHONE.matches && store.current) {
    $("btn-back").click();
  }
});

$("logout-form").addEventListener("submit", () => {
  const token = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  $("csrf-token").value = token ? decodeURIComponent(token.slice("csrftoken=".length)) : "";
  conn.stop();
});

window.addEventListener("beforeunload", (e) => {
  if (store.unsentCount() > 0) e.preventDefault(); // unsent messages would be lost
});

PHONE.addEventListener("change", scheduleRender);

conn.start();
render();
