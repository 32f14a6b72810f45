// The Colloquy browser client: wires the connection and the store to the page.
// Rendering is keyed (dom.reconcile), so live updates keep focus and scroll.

import { Connection } from "./connection.js";
import {
  avatar, formatAgo, formatDay, formatFull, formatShort, formatTime, h, icon, reconcile,
  richText, startOfDay,
} from "./dom.js";
import { createPicker, dot } from "./picker.js";
import { roundtableView } from "./roundtable-view.js";
import { RoundTables } from "./roundtables.js";
import { Store } from "./store.js";

const $ = (id) => document.getElementById(id);
const PHONE = window.matchMedia("(max-width: 700px)");
const GROUP_GAP_MS = 5 * 60 * 1000; // consecutive messages closer than this share a header
const NEAR_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 300;

const conn = new Connection();
const store = new Store(conn);
const rts = new RoundTables(store);
const rtView = roundtableView({ store, rts, openRoom: (id) => openRoom(id, { focusComposer: true }),
  closeRoomView, toast });
const drafts = new Map(); // room id → unsent text in the composer
let renderedRoomId = null;
let membersOpen = false;
let sidePanel = null; // "thread" or "search": the right-hand panel (members has its own flag)
let threadRoot = null; // {roomId, id} of the open thread
let editingKey = null; // the message being edited in place
let deleting = null; // {room, item} awaiting confirmation
let jumpTarget = null; // the message a search result jumped to, highlighted a moment
let roomFilter = "";
// Quick reactions offered first (any emoji or short name is valid on the server).
const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "👀", "🙏", "✅", "🔥"];
// Short names the server accepts, drawn as their emoji (rooms/emoji.py lists them all).
const SHORT_NAME_EMOJI = {
  "+1": "👍", thumbsup: "👍", "-1": "👎", thumbsdown: "👎", heart: "❤️", smile: "😄",
  laughing: "😆", joy: "😂", wink: "😉", tada: "🎉", clap: "👏", pray: "🙏", fire: "🔥",
  rocket: "🚀", eyes: "👀", thinking: "🤔", ok_hand: "👌", 100: "💯", white_check_mark: "✅",
  heavy_check_mark: "✔️", x: "❌", warning: "⚠️", wave: "👋", raised_hands: "🙌",
  muscle: "💪", star: "⭐", sparkles: "✨", bulb: "💡", coffee: "☕", party: "🥳",
};

// Visible for tests and for debugging from the console; holds no secrets.
window.colloquy = { conn, store, rts };

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
  renderThread();
  renderSearch();
  renderNotes();
  rtView.render();
  document.body.classList.toggle("side-open",
    sidePanel === "notes" || (sidePanel !== null && !!store.current));
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
  rtView.leave();
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
  const level = (room.mute && room.mute.level) || "all";
  if (document.activeElement !== $("room-mute")) $("room-mute").value = level;
  $("room-mute").classList.toggle("is-muted", level !== "all");
  $("btn-members").setAttribute("aria-expanded", String(membersOpen));
  $("composer-label").textContent = `Message ${name}`;
  $("composer-input").placeholder = room.kind === "direct" ? `Message ${name}` : `Message #${name}`;
}

function timelineItems(room) {
  const out = [];
  const lastMine = store.lastMine(room);
  const seen = lastMine ? store.seenBy(room, lastMine) : [];
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
      const seenBy = item === lastMine ? seen : null;
      out.push({ key: item.key, kind: "message", item, compact, seenBy,
        version: `${messageVersion(item, compact)}|${seenBy ? seenBy.map((u) => u.id).join(",") : ""}` });
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
  scroller.setAttribute("aria-busy", String(!room.loaded || room.loadingOlder));
  const status = $("history-status");
  if (!room.loaded) status.textContent = "Loading messages…";
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
  store.loadReceipts(room);
}

function messageVersion(item, compact) {
  return `${item.version}|${item.status}|${compact}|${editingKey === item.key}`
    + `|${jumpTarget === item.id}`;
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
    m.status !== "sent" ? `is-${m.status}` : "", jumpTarget === m.id ? "is-target" : "",
    store.me && (m.mentions || []).includes(store.me.id) ? "mentions-me" : ""]
    .filter(Boolean).join(" ");
  if (m.id) el.dataset.id = m.id;
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
      editingKey === m.key ? editForm(m)
        : m.deleted ? h("p", { class: "msg-text deleted" }, "This message was deleted.")
          : h("p", { class: "msg-text" }, withMentions(richText(m.body)),
            m.edition > 1 ? h("span", { class: "edited", title: m.edited_at
              ? `Edited ${formatFull(m.edited_at)}` : "Edited" }, " (edited)") : null),
      m.requiresAck && !m.deleted ? ackLine(m, mine) : null,
      reactionChips(m),
      entry.inThread ? null : threadSummary(m),
      messageState(m),
      entry.seenBy && entry.seenBy.length ? seenLine(entry.seenBy) : null),
    m.status === "sent" && !m.deleted && editingKey !== m.key
      ? messageActions(m, mine, entry.inThread) : null,
  ];
  el.replaceChildren(...children.filter(Boolean));
}

/** `@name` in a message's text, marked (the server decides who was mentioned). */
function withMentions(nodes) {
  const out = [];
  for (const node of nodes) {
    if (node.nodeType !== Node.TEXT_NODE) {
      out.push(node);
      continue;
    }
    const text = node.textContent;
    let last = 0;
    for (const match of text.matchAll(/(^|[^\w@])(@[\w.+-]*\w)/g)) {
      const at = match.index + match[1].length;
      if (at > last) out.push(document.createTextNode(text.slice(last, at)));
      const me = store.me && match[2] === `@${store.me.username}`;
      out.push(h("span", { class: me ? "mention me" : "mention" }, match[2]));
      last = at + match[2].length;
    }
    if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  }
  return out;
}

function emojiOf(name) {
  return /^[a-z0-9_+-]+$/.test(name) ? SHORT_NAME_EMOJI[name] || `:${name}:` : name;
}

function messageActions(m, mine, inThread) {
  const room = store.rooms.get(m.roomId);
  if (!room) return null;
  const act = (label, iconName, onclick) => h("button", {
    type: "button", class: "btn btn-icon msg-action", "aria-label": label, title: label, onclick,
  }, icon(iconName, 16));
  const picker = h("div", { class: "react-picker", role: "menu", hidden: true },
    ...QUICK_REACTIONS.map((e) => h("button", {
      type: "button", class: "react-choice", role: "menuitem", "aria-label": `React with ${e}`,
      onclick: () => {
        picker.hidden = true;
        react(room, m, e);
      },
    }, e)));
  const reactButton = act("Add reaction", "smile", () => {
    picker.hidden = !picker.hidden;
    if (!picker.hidden) picker.querySelector("button").focus();
  });
  picker.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      picker.hidden = true;
      reactButton.focus();
    }
  });
  return h("div", { class: "msg-actions" }, reactButton, picker,
    inThread || m.thread ? null : act("Reply in thread", "reply", () => openThread(room, m)),
    mine ? act("Edit message", "edit", () => startEdit(m)) : null,
    mine ? act("Delete message", "trash", () => askDelete(room, m)) : null);
}

function seenLine(people) {
  const names = people.map((u) => u.name || u.username);
  const text = names.length <= 3 ? names.join(", ") : `${names.length} people`;
  return h("p", { class: "seen-by", title: names.join(", ") }, `Seen by ${text}`);
}

function react(room, m, emoji) {
  store.toggleReaction(room, m, emoji).catch((err) => toast(`Could not react: ${err.message}`, "error"));
}

// --- announcements that must be acknowledged -----------------------------------------

/** Under an announcement: the reader's Acknowledge button, or for those who may see
 * it (the author, moderators, administrators) the tally, which opens the list. */
function ackLine(m, mine) {
  const room = store.rooms.get(m.roomId);
  const ack = m.ack || { version: 1, acked: 0, total: 0, mine: false };
  const tally = `Acknowledged by ${ack.acked} of ${ack.total}`;
  const parts = [h("span", { class: "ack-badge" }, icon("check", 14), "Announcement")];
  if (!mine && m.id) {
    parts.push(ack.mine
      ? h("span", { class: "ack-done" }, icon("check", 14), "You acknowledged this")
      : h("button", {
        type: "button", class: "btn btn-primary btn-compact ack-button",
        onclick: () => store.acknowledge(room, m).catch((err) => toast(
          `Could not acknowledge: ${err.message}`, "error")),
      }, "Acknowledge"));
  }
  if (m.id && (mine || ["moderator", "admin"].includes(store.role))) {
    parts.push(h("button", { type: "button", class: "ack-tally", onclick: () => openAcks(room, m) },
      tally));
  }
  return h("div", { class: "ack-line" }, ...parts);
}

let acksOpen = null; // {room, item} while the acknowledgements dialog shows
async function openAcks(room, m) {
  acksOpen = { room, item: m };
  $("acks-csv").href = `/api/rooms/${room.id}/messages/${m.id}/acks.csv`;
  await fillAcks();
  $("dlg-acks").showModal();
}

async function fillAcks() {
  if (!acksOpen) return;
  const { room, item } = acksOpen;
  let listed;
  try {
    listed = await store.acksOf(room, item);
  } catch (err) {
    toast(`Could not load the acknowledgements: ${err.message}`, "error");
    return;
  }
  const name = (u) => u.name || u.username;
  $("acks-summary").textContent = `${listed.acked.length} of ${listed.total} acknowledged`
    + (listed.version > 1 ? ` (version ${listed.version})` : "");
  $("acks-done").replaceChildren(...listed.acked.map((a) => h("li", { class: "ack-person" },
    avatar(a.user, "avatar-xs"), h("span", { class: "ack-name" }, name(a.user)),
    h("time", { datetime: new Date(a.at).toISOString() }, formatShort(a.at)))));
  $("acks-pending").replaceChildren(...listed.pending.map((p) => h("li", { class: "ack-person" },
    avatar(p.user, "avatar-xs"), h("span", { class: "ack-name" }, name(p.user)),
    p.acked_version ? h("span", { class: "muted" }, `had version ${p.acked_version}`) : null)));
}

$("dlg-acks").addEventListener("close", () => {
  acksOpen = null;
});
store.addEventListener("acks", (e) => {
  if (acksOpen && acksOpen.item.id === e.detail.message) fillAcks();
});

function threadSummary(m) {
  if (!m.summary || m.summary.replies === 0) return null;
  const { replies, last_reply_at: last, participants } = m.summary;
  const room = store.rooms.get(m.roomId);
  return h("button", { type: "button", class: "thread-summary", onclick: () => room && openThread(room, m) },
    h("span", { class: "thread-faces", "aria-hidden": "true" },
      ...participants.map((u) => avatar(u, "avatar-xs"))),
    h("span", { class: "thread-replies" }, `${replies} ${replies === 1 ? "reply" : "replies"}`),
    last ? h("span", { class: "thread-last" }, `Last reply ${formatShort(last)}`) : null);
}

// --- editing and deleting ----------------------------------------------------------

function startEdit(m) {
  editingKey = m.key;
  m.version++;
  render();
  const box = document.querySelector(".edit-form textarea");
  if (box) {
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }
}

function stopEdit(m, { focus = true } = {}) {
  editingKey = null;
  m.version++;
  render();
  if (focus) $(m.thread ? "thread-input" : "composer-input").focus();
}

function editForm(m) {
  const box = h("textarea", { class: "composer-input edit-input", rows: 2, "aria-label": "Edit message" });
  box.value = m.body;
  const save = async () => {
    const room = store.rooms.get(m.roomId);
    const body = box.value;
    if (!room || !body.trim()) return;
    if (body === m.body) {
      stopEdit(m);
      return;
    }
    try {
      await store.editMessage(room, m, body);
      stopEdit(m);
    } catch (err) {
      toast(`Could not edit: ${err.message}`, "error");
    }
  };
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === "Escape") {
      e.preventDefault();
      stopEdit(m);
    }
  });
  return h("form", { class: "edit-form", onsubmit: (e) => { e.preventDefault(); save(); } },
    box,
    h("div", { class: "edit-buttons" },
      h("span", { class: "edit-hint" }, "Enter to save · Escape to cancel"),
      h("button", { type: "button", class: "btn btn-ghost btn-compact", onclick: () => stopEdit(m) }, "Cancel"),
      h("button", { type: "submit", class: "btn btn-primary btn-compact" }, "Save")));
}

function askDelete(room, m) {
  deleting = { room, item: m };
  $("delete-preview").textContent = m.body;
  $("delete-error").textContent = "";
  $("dlg-delete").showModal();
  $("delete-submit").focus();
}

$("form-delete").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!deleting) return;
  try {
    await store.deleteMessage(deleting.room, deleting.item);
    $("dlg-delete").close();
    deleting = null;
  } catch (err) {
    $("delete-error").textContent = err.message;
  }
});

function reactionChips(m) {
  if (!m.reactions || m.reactions.size === 0) return null;
  return h("ul", { class: "reactions", "aria-label": "Reactions" },
    ...[...m.reactions.values()].map((c) => h("li", null, h("button", {
      type: "button", class: c.mine ? "reaction mine" : "reaction", "aria-pressed": String(c.mine),
      title: c.mine ? "You reacted; click to take it back" : "Click to react too",
      onclick: () => {
        const room = store.rooms.get(m.roomId);
        if (room) react(room, m, c.emoji);
      },
    }, h("span", { class: "emoji" }, emojiOf(c.emoji)), h("span", { class: "count" }, String(c.count))))));
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
  $("composer-ack").hidden = !store.mayAnnounce(store.current);
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
  if (mentionKey(e)) return;
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  } else if (e.key === "ArrowUp" && !e.target.value && store.current) {
    // Up in an empty composer edits my last message, as in Slack and Mattermost.
    const last = store.lastEditable(store.current);
    if (last) {
      e.preventDefault();
      startEdit(last);
    }
  }
});

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = store.current;
  const input = $("composer-input");
  const body = input.value;
  if (!room || !body.trim()) return;
  const announce = !$("composer-ack").hidden && $("composer-ack-box").checked;
  store.send(room, body, null, announce);
  $("composer-ack-box").checked = false;
  input.value = "";
  drafts.delete(room.id);
  autosize(input);
  renderComposer();
  render();
  $("timeline").scrollTop = $("timeline").scrollHeight;
  input.focus();
});

// --- the thread pane -----------------------------------------------------------------

function openThread(room, root) {
  membersOpen = false;
  sidePanel = "thread";
  threadRoot = { roomId: room.id, id: root.id };
  $("thread-input").value = "";
  store.openThread(room, root.id);
  render();
  $("thread-input").focus();
}

function closeSide() {
  sidePanel = null;
  threadRoot = null;
  render();
}

function currentThread() {
  const room = store.current;
  if (sidePanel !== "thread" || !threadRoot || !room || room.id !== threadRoot.roomId) return null;
  const root = store.findMessage(room, threadRoot.id);
  return root ? { room, root } : null;
}

function renderThread() {
  const open = currentThread();
  $("thread-panel").hidden = !open;
  if (!open) return;
  const { room, root } = open;
  $("thread-title").textContent = `Thread in ${store.displayName(room)}`;
  const follow = $("btn-follow");
  follow.textContent = root.following ? "Following" : "Follow";
  follow.setAttribute("aria-pressed", String(root.following));
  follow.classList.toggle("is-on", root.following);
  const rootEntry = { key: root.key, kind: "message", item: root, compact: false, inThread: true,
    version: messageVersion(root, false) };
  reconcile($("thread-root"), [rootEntry], createTimelineNode, updateTimelineNode);
  const replies = store.threadOf(room, root.id);
  const count = root.summary ? root.summary.replies : replies.length;
  const loading = room.threads.get(root.id) && room.threads.get(root.id).loading;
  $("thread-count").textContent = loading ? "Loading replies…"
    : count ? `${count} ${count === 1 ? "reply" : "replies"}` : "No replies yet";
  const scroller = $("thread-scroll");
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  reconcile($("thread-replies"), replies.map((item) => ({ key: item.key, kind: "message", item,
    compact: false, inThread: true, version: messageVersion(item, false) })),
  createTimelineNode, updateTimelineNode);
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  $("btn-thread-send").disabled = !$("thread-input").value.trim();
}

$("thread-input").addEventListener("input", (e) => {
  autosize(e.target);
  $("btn-thread-send").disabled = !e.target.value.trim();
});
$("thread-input").addEventListener("keydown", (e) => {
  if (mentionKey(e)) return;
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("thread-composer").requestSubmit();
  } else if (e.key === "Escape") {
    closeSide();
    $("composer-input").focus();
  }
});
$("thread-composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const open = currentThread();
  const input = $("thread-input");
  if (!open || !input.value.trim()) return;
  store.send(open.room, input.value, open.root.id);
  input.value = "";
  autosize(input);
  render();
  $("thread-scroll").scrollTop = $("thread-scroll").scrollHeight;
  input.focus();
});
$("btn-thread-close").addEventListener("click", () => {
  closeSide();
  $("composer-input").focus();
});
$("btn-follow").addEventListener("click", () => {
  const open = currentThread();
  if (!open) return;
  store.setFollowing(open.room, open.root, !open.root.following)
    .catch((err) => toast(`Could not change following: ${err.message}`, "error"));
});

// --- message search ------------------------------------------------------------------

let searchState = { query: "", results: [], status: "" };

function openSearch() {
  membersOpen = false;
  sidePanel = "search";
  threadRoot = null;
  render();
  $("message-search").focus();
  $("message-search").select();
}

function renderSearch() {
  const open = sidePanel === "search" && !!store.current;
  $("search-panel").hidden = !open;
  $("btn-search").setAttribute("aria-expanded", String(open));
  if (!open) return;
  $("search-status").textContent = searchState.status;
  const items = searchState.results.map((r) => ({ key: r.id, r, version: 0 }));
  reconcile($("search-results"), items, ({ r }) => {
    const room = store.rooms.get(r.room);
    const where = room ? store.displayName(room) : `Room ${r.room}`;
    return h("li", null, h("button", { type: "button", class: "search-hit", onclick: () => jumpTo(r) },
      h("span", { class: "hit-meta" },
        h("span", { class: "hit-room" }, r.thread ? `${where} · thread` : where),
        h("span", { class: "hit-author" }, r.author.name || r.author.username),
        h("time", { datetime: new Date(r.ts).toISOString(), title: formatFull(r.ts) }, formatShort(r.ts))),
      h("span", { class: "hit-text" }, ...r.snippet.map((part) => (part.match
        ? h("mark", null, part.text) : document.createTextNode(part.text))))));
  }, () => {});
}

$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const query = $("message-search").value.trim();
  if (!query) return;
  searchState = { query, results: [], status: "Searching…" };
  render();
  try {
    const reply = await store.searchMessages(query);
    if (searchState.query !== query) return; // a newer search was started
    const n = reply.results.length;
    searchState = { query, results: reply.results,
      status: n ? `${n}${reply.before ? "+" : ""} message${n === 1 ? "" : "s"}` : "No message matches." };
  } catch (err) {
    searchState = { query, results: [], status: `Search failed: ${err.message}` };
  }
  render();
});

/** Open a message where it lives: its thread pane, or the room's timeline,
 * loading back as far as needed (a search hit knows its seq; a notification not). */
async function jumpTo(hit) {
  const room = store.rooms.get(hit.room);
  if (!room) return;
  if (store.currentId !== room.id) openRoom(room.id);
  if (!hit.seq) {
    if (!room.loaded) await store.loadLatest(room);
    const wanted = hit.thread || hit.id;
    for (let i = 0; i < 40 && !store.findMessage(room, wanted); i++) {
      if (!(await store.loadOlder(room))) break;
    }
  }
  if (hit.thread) {
    await store.loadUntil(room, hit.seq || 0);
    // The root came before its reply: page back until it is loaded.
    for (let i = 0; i < 40 && !store.findMessage(room, hit.thread); i++) {
      if (!(await store.loadOlder(room))) break;
    }
    const root = store.findMessage(room, hit.thread);
    if (root) openThread(room, root);
    else toast("The thread's first message could not be loaded.", "error");
    return;
  }
  if (hit.seq) await store.loadUntil(room, hit.seq);
  jumpTarget = hit.id;
  const item = store.findMessage(room, hit.id);
  if (item) item.version++;
  render();
  const el = document.querySelector(`#messages .msg[data-id="${hit.id}"]`);
  if (el) el.scrollIntoView({ block: "center" });
  setTimeout(() => {
    if (jumpTarget !== hit.id) return;
    jumpTarget = null;
    if (item) item.version++;
    scheduleRender();
  }, 4000);
}

$("btn-search").addEventListener("click", () => (sidePanel === "search" ? closeSide() : openSearch()));
$("btn-search-close").addEventListener("click", () => {
  closeSide();
  $("btn-search").focus();
});

// --- notifications ---------------------------------------------------------------

function noteText(n) {
  const who = n.actor ? n.actor.name || n.actor.username : "Someone";
  const room = n.room !== null && store.rooms.get(n.room);
  const where = room ? ` in ${store.displayName(room)}` : "";
  if (n.kind === "mention") return `${who} mentioned you${where}`;
  if (n.kind === "reply") return `${who} replied in a thread${where}`;
  if (n.kind === "reaction") return `${who} reacted ${emojiOf(n.emoji)} to your message${where}`;
  if (n.kind === "room_added") return `${who} added you to ${n.preview || "a room"}`;
  if (n.kind === "roundtable") {
    return `${who} ${n.preview.startsWith("Live now: ") ? "started" : "announced"} a round table`;
  }
  return `${who}${where}`;
}

function renderNotes() {
  const count = store.notesUnread;
  const badge = $("bell-count");
  badge.hidden = count === 0;
  badge.textContent = count > 99 ? "99+" : String(count);
  $("btn-bell").setAttribute("aria-label", count ? `Notifications, ${count} unread` : "Notifications");
  const open = sidePanel === "notes";
  $("btn-bell").setAttribute("aria-expanded", String(open));
  $("notes-panel").hidden = !open;
  if (!open) return;
  const notes = store.sortedNotes();
  $("notes-empty").hidden = notes.length > 0;
  $("btn-notes-read").disabled = count === 0;
  const items = notes.map((n) => ({ key: n.id, n, version: `${n.read}|${n.preview}` }));
  const fill = (li, { n }) => {
    li.className = n.read ? "note" : "note is-unread";
    li.replaceChildren(h("button", { type: "button", class: "note-open", onclick: () => openNote(n) },
      n.actor ? avatar(n.actor, "avatar-sm") : h("span", { class: "avatar avatar-sm room-glyph" }, "#"),
      h("span", { class: "note-text" },
        h("span", { class: "note-title" }, noteText(n)),
        n.kind !== "room_added" && n.preview ? h("span", { class: "note-preview" }, n.preview)
          : n.kind !== "room_added" ? h("span", { class: "note-preview deleted" }, "This message was deleted.") : null,
        h("time", { datetime: new Date(n.ts).toISOString(), title: formatFull(n.ts) }, formatShort(n.ts)))));
  };
  reconcile($("notes-list"), items, (item) => {
    const li = h("li");
    fill(li, item);
    return li;
  }, fill);
}

async function openNote(n) {
  if (!n.read) store.readNotes([n.id]).catch(() => {});
  if (n.kind === "roundtable" && n.roundtable) {
    sidePanel = null;
    rtView.open(n.roundtable);
    return;
  }
  if (n.room === null || !store.rooms.get(n.room)) return;
  sidePanel = null;
  if (n.kind === "room_added" || !n.message) {
    openRoom(n.room, { focusComposer: true });
    return;
  }
  // A reply opens in its thread; a message in the room's timeline.
  await jumpTo({ room: n.room, id: n.message, thread: n.kind === "reply" || n.thread ? n.thread : null });
}

// Desktop notifications (the browser's Notification API) while the tab is hidden,
// once the employee has allowed them: asked for from the panel, never on load.
const desktopAlerts = () => "Notification" in window && Notification.permission === "granted";
function showDesktopButton() {
  $("notes-desktop").hidden = !("Notification" in window)
    || Notification.permission !== "default";
}
$("btn-notes-desktop").addEventListener("click", async () => {
  await Notification.requestPermission();
  showDesktopButton();
});
store.addEventListener("notification", (e) => {
  if (document.visibilityState !== "hidden" || !desktopAlerts()) return;
  const n = e.detail;
  const alert = new Notification(noteText(n), { body: n.preview || "", tag: `note-${n.id}` });
  alert.addEventListener("click", () => {
    window.focus();
    openNote(n);
  });
});
showDesktopButton();

$("btn-bell").addEventListener("click", () => {
  if (sidePanel === "notes") {
    closeSide();
    return;
  }
  membersOpen = false;
  sidePanel = "notes";
  threadRoot = null;
  render();
  $("btn-notes-close").focus();
});
$("btn-notes-close").addEventListener("click", () => {
  closeSide();
  $("btn-bell").focus();
});
$("btn-notes-read").addEventListener("click", () => {
  const pending = store.readAllNotes();
  if (pending) pending.catch((err) => toast(`Could not mark read: ${err.message}`, "error"));
});

// --- @-mentions in the composers ---------------------------------------------------

let mention = null; // {input, start, matches, index}

function mentionCandidates(room, prefix) {
  const p = prefix.toLowerCase();
  const people = room.members ? [...room.members.values()] : [];
  const found = people.filter((u) => (!store.me || u.id !== store.me.id)
    && (u.username.toLowerCase().startsWith(p) || (u.name || "").toLowerCase().split(/\s+/)
      .some((w) => w.startsWith(p))));
  found.sort((a, b) => a.username.localeCompare(b.username));
  const shown = found.slice(0, 6).map((u) => ({ username: u.username, label: u.name || u.username, user: u }));
  if ("room".startsWith(p) && room.kind !== "direct") {
    shown.push({ username: "room", label: "Everyone in this room", user: null });
  }
  return shown;
}

function updateMention(input) {
  const room = store.current;
  const upto = input.value.slice(0, input.selectionStart);
  const found = /(^|[^\w@])@([\w.+-]*)$/.exec(upto);
  if (!room || !found) {
    closeMention();
    return;
  }
  const matches = mentionCandidates(room, found[2]);
  if (!matches.length) {
    closeMention();
    return;
  }
  mention = { input, start: upto.length - found[2].length - 1, matches, index: 0 };
  renderMention();
}

function renderMention() {
  const list = $("mention-list");
  if (!mention) {
    list.hidden = true;
    return;
  }
  // The list sits above whichever composer is being typed in.
  const host = mention.input.closest("form");
  if (list.parentNode !== host) host.prepend(list);
  list.hidden = false;
  list.replaceChildren(...mention.matches.map((m, i) => h("li", {
    role: "option", class: i === mention.index ? "mention-option is-active" : "mention-option",
    "aria-selected": String(i === mention.index), id: `mention-${i}`,
    onmousedown: (e) => {
      e.preventDefault(); // keep the focus in the composer
      mention.index = i;
      insertMention();
    },
  }, m.user ? avatar(m.user, "avatar-xs") : h("span", { class: "avatar avatar-xs room-glyph" }, "@"),
  h("span", { class: "mention-name" }, m.label), h("span", { class: "mention-user" }, `@${m.username}`))));
  mention.input.setAttribute("aria-activedescendant", `mention-${mention.index}`);
}

function closeMention() {
  if (mention) mention.input.removeAttribute("aria-activedescendant");
  mention = null;
  renderMention();
}

function insertMention() {
  const { input, start, matches, index } = mention;
  const end = input.selectionStart;
  const text = `@${matches[index].username} `;
  input.value = input.value.slice(0, start) + text + input.value.slice(end);
  input.setSelectionRange(start + text.length, start + text.length);
  closeMention();
  input.dispatchEvent(new Event("input"));
}

/** Keys the mention list takes while it is open; true when it took this one. */
function mentionKey(e) {
  if (!mention || mention.input !== e.target) return false;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    const n = mention.matches.length;
    mention.index = (mention.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    renderMention();
  } else if ((e.key === "Enter" || e.key === "Tab") && !e.isComposing) {
    insertMention();
  } else if (e.key === "Escape") {
    closeMention();
  } else {
    return false;
  }
  e.preventDefault();
  e.stopPropagation();
  return true;
}

for (const id of ["composer-input", "thread-input"]) {
  $(id).addEventListener("input", (e) => updateMention(e.target));
  $(id).addEventListener("blur", () => setTimeout(closeMention, 100));
}

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
  if (membersOpen) sidePanel = null;
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

$("room-mute").addEventListener("change", (e) => {
  const room = store.current;
  if (!room) return;
  store.muteRoom(room, e.target.value)
    .then(() => toast(e.target.value === "all" ? "This room notifies you of everything."
      : e.target.value === "mentions" ? "This room notifies you only of mentions."
        : "This room is muted. Unread messages still show."))
    .catch((err) => toast(`Could not change notifications: ${err.message}`, "error"));
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
  } else if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === "f") {
    e.preventDefault();
    if (store.current) openSearch();
  } else if (e.altKey && e.key.toLowerCase() === "n") {
    e.preventDefault();
    openNewDialog();
  } else if (e.key === "Escape" && sidePanel) {
    closeSide();
    $("composer-input").focus();
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

// A link from a digest e-mail (/?room=ID&message=MID[&thread=TID]) opens that message
// once the room list is in; the query is dropped so a reload does not jump again.
const deepLink = new URLSearchParams(location.search);
if (deepLink.get("room")) {
  const openLink = () => {
    if (!store.listLoaded) return;
    store.removeEventListener("change", openLink);
    history.replaceState(null, "", location.pathname);
    const room = Number(deepLink.get("room"));
    if (deepLink.get("message")) jumpTo({ room, id: deepLink.get("message"), thread: deepLink.get("thread") });
    else if (store.rooms.get(room)) openRoom(room);
  };
  store.addEventListener("change", openLink);
}

conn.start();
render();
