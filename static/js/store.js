// What the client knows: rooms and their summaries, loaded timelines, the outbox,
// members, presence and typing. Events from the connection and replies to our
// requests change it; every change fires "change" and the UI redraws from it.

import { ConnectionLost, RequestError } from "./connection.js";

const PAGE = 50; // history events per page
const TYPING_EVERY_MS = 2500; // typing re-sent while typing (server relays ≤ 1 per 3 s)

export class Store extends EventTarget {
  constructor(conn) {
    super();
    this.conn = conn;
    this.me = null;
    this.rooms = new Map(); // id → room
    this.users = new Map(); // id → {id, username, name}
    this.presence = new Map(); // user id → {status, last_seen}
    this.currentId = null;
    this.listLoaded = false;
    this.isReading = () => false; // set by the view: is this room on screen, at the bottom?
    this.localOrder = 0;
    this.refreshTimer = null;
    this.typingSent = new Map(); // room id → when we last sent typing
    this.notes = new Map(); // notification id → notification (the newest page)
    this.notesUnread = 0; // all unread, as the server counts them
    this.notesTimer = null;
    conn.addEventListener("hello", (e) => {
      this.me = e.detail.user; // before any replayed event is applied
      this.role = e.detail.role || "employee";
      this.users.set(this.me.id, this.me);
    });
    conn.addEventListener("ready", (e) => this._onReady(e.detail));
    conn.addEventListener("event", (e) => this._onEvent(e.detail));
    conn.addEventListener("state", (e) => {
      if (e.detail.state !== "open") this._clearTyping();
      this.changed();
    });
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  notify(message, kind = "info") {
    this.dispatchEvent(new CustomEvent("notice", { detail: { message, kind } }));
  }

  // --- connection ready -------------------------------------------------------

  async _onReady({ reconnected }) {
    this.refreshNotes();
    await this.refreshRooms();
    const room = this.current;
    if (room) {
      if (!room.loaded) this.loadLatest(room);
      this._queryMembersPresence(room);
      this.markRead(room);
    }
    this.flushOutbox();
    if (reconnected) this.changed();
  }

  // --- rooms ------------------------------------------------------------------

  get current() {
    return this.currentId === null ? null : this.rooms.get(this.currentId) || null;
  }

  _newRoom(id, fields = {}) {
    return {
      id, name: "", kind: "group", read_seq: 0, last_seq: 0, unread: 0, last_message: null,
      activity: 0, members: null, timeline: null, loaded: false, bySeq: null, oldestSeq: null,
      hasOlder: true, loadingOlder: false, typing: new Map(), version: 0,
      divider: null, threads: new Map(), readSeqs: new Map(), receiptsFor: null, ...fields,
    };
  }

  async refreshRooms() {
    let reply;
    try {
      reply = await this.conn.request("rooms.list");
    } catch (err) {
      if (!(err instanceof ConnectionLost)) this.notify(`Could not load rooms: ${err.message}`, "error");
      return;
    }
    const seen = new Set();
    for (const r of reply.rooms) {
      seen.add(r.id);
      let room = this.rooms.get(r.id);
      if (!room) {
        room = this._newRoom(r.id);
        this.rooms.set(r.id, room);
      }
      room.name = r.name;
      room.kind = r.kind;
      room.mute = r.mute || { level: "all", until: null };
      room.members_announce = Boolean(r.members_announce);
      room.read_seq = Math.max(room.read_seq, r.read_seq);
      // A snapshot older than what live events already told us is ignored.
      if (r.last_seq >= room.last_seq) {
        room.last_seq = r.last_seq;
        room.unread = this.isReading(room.id) ? 0 : r.unread;
        room.last_message = r.last_message;
        if (r.last_message) room.activity = Math.max(room.activity, r.last_message.ts);
      }
      room.version++;
    }
    for (const id of [...this.rooms.keys()]) {
      if (!seen.has(id)) this._dropRoom(id);
    }
    this.listLoaded = true;
    this.changed();
    // Direct conversations are named after the other person: fetch members.
    const direct = [...this.rooms.values()].filter((r) => r.kind === "direct" && !r.members);
    await Promise.all(direct.map((r) => this.fetchMembers(r)));
    const partners = [...this.rooms.values()].map((r) => this.partner(r)).filter(Boolean);
    this.queryPresence(partners.map((u) => u.id));
  }

  _scheduleRefresh() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refreshRooms();
    }, 400);
  }

  _dropRoom(id) {
    const room = this.rooms.get(id);
    if (!room) return;
    for (const t of room.typing.values()) clearTimeout(t.timer);
    this.rooms.delete(id);
    if (this.currentId === id) {
      this.currentId = null;
      this.dispatchEvent(new CustomEvent("closed-room", { detail: { room } }));
    }
  }

  async fetchMembers(room) {
    try {
      const reply = await this.conn.request("rooms.members", { room: room.id });
      room.members = new Map(reply.members.map((u) => [u.id, u]));
      for (const u of reply.members) this.users.set(u.id, u);
      room.version++;
      this.changed();
    } catch (err) {
      if (err instanceof RequestError && err.code === "forbidden") this._scheduleRefresh();
    }
  }

  /** The other person of a direct conversation. */
  partner(room) {
    if (room.kind !== "direct" || !room.members || !this.me) return null;
    for (const u of room.members.values()) if (u.id !== this.me.id) return u;
    return null;
  }

  displayName(room) {
    if (room.kind === "direct") {
      const p = this.partner(room);
      return p ? p.name || p.username : "Direct message";
    }
    return room.name || `Room ${room.id}`;
  }

  sortedRooms() {
    return [...this.rooms.values()].sort((a, b) => b.activity - a.activity || b.id - a.id);
  }

  totalUnread() {
    let n = 0;
    for (const r of this.rooms.values()) n += r.unread;
    return n;
  }

  openRoom(id) {
    const room = this.rooms.get(id);
    if (!room) return;
    this.currentId = id;
    // The "new messages" line sits where the reader left off, until they leave.
    room.divider = room.unread > 0 ? room.read_seq : null;
    if (!room.loaded) this.loadLatest(room);
    if (!room.members) this.fetchMembers(room).then(() => this._queryMembersPresence(room));
    else this._queryMembersPresence(room);
    this.changed();
  }

  closeRoom() {
    this.currentId = null;
    this.changed();
  }

  _queryMembersPresence(room) {
    if (!room.members) return;
    this.queryPresence([...room.members.keys()]);
  }

  async queryPresence(ids) {
    const users = [...new Set(ids)].filter((id) => !this.me || id !== this.me.id);
    for (let i = 0; i < users.length; i += 200) {
      try {
        const reply = await this.conn.request("presence.query", { users: users.slice(i, i + 200) });
        for (const p of reply.users) this.presence.set(p.user, { status: p.status, last_seen: p.last_seen });
      } catch {
        return;
      }
    }
    this.changed();
  }

  statusOf(userId) {
    if (this.me && userId === this.me.id) return "online";
    const p = this.presence.get(userId);
    return p ? p.status : "offline";
  }

  // --- timeline -------------------------------------------------------------

  async loadLatest(room) {
    if (room.loadingOlder) return;
    room.loadingOlder = true;
    // The timeline exists before we ask: an event that arrives while the page is on
    // its way is kept (the page may have been read just before it was sent).
    if (!room.timeline) {
      room.timeline = new Map();
      room.bySeq = new Map();
    }
    try {
      const reply = await this.conn.request("history", { stream: `room:${room.id}`, limit: PAGE });
      for (const ev of reply.events) this._addToTimeline(room, ev);
      room.loaded = true;
      room.hasOlder = reply.events.length === PAGE && reply.events[0].seq > 1;
      room.oldestSeq = reply.events.length ? reply.events[0].seq : room.oldestSeq;
    } catch (err) {
      if (!(err instanceof ConnectionLost)) this.notify(`Could not load messages: ${err.message}`, "error");
    } finally {
      room.loadingOlder = false;
      room.version++;
      this.changed();
    }
  }

  async loadOlder(room) {
    if (!room.loaded || !room.hasOlder || room.loadingOlder || !room.oldestSeq) return false;
    room.loadingOlder = true;
    this.changed();
    try {
      const reply = await this.conn.request("history", {
        stream: `room:${room.id}`, before: room.oldestSeq, limit: PAGE,
      });
      for (const ev of reply.events) this._addToTimeline(room, ev);
      if (reply.events.length) room.oldestSeq = reply.events[0].seq;
      room.hasOlder = reply.events.length === PAGE && reply.events[0].seq > 1;
      return reply.events.length > 0;
    } catch {
      return false;
    } finally {
      room.loadingOlder = false;
      room.version++;
      this.changed();
    }
  }

  _addToTimeline(room, ev) {
    if (!room.timeline || room.bySeq.has(ev.seq)) return;
    if (room.oldestSeq === null || ev.seq < room.oldestSeq) room.oldestSeq = ev.seq;
    const data = ev.data || {};
    if (ev.type === "message.created") {
      if (data.author) this.users.set(data.author.id, data.author);
      const mine = this.me && data.author && data.author.id === this.me.id && data.client_id;
      const key = mine ? `c:${data.client_id}` : `s:${ev.seq}`;
      room.bySeq.set(ev.seq, key);
      // A reply lives in its thread (shown in the thread pane), not in the room's timeline.
      const items = data.thread ? this._threadItems(room, data.thread) : room.timeline;
      if (!items) return; // a thread not opened: its root's summary counts it
      const existing = items.get(key);
      if (existing) {
        // Our own message, shown since we sent it: the event confirms it.
        Object.assign(existing, { seq: ev.seq, id: data.id, ts: data.ts, status: "sent", error: null,
          ack: existing.ack || data.ack || null });
        existing.version++;
      } else {
        items.set(key, {
          key, kind: "message", seq: ev.seq, id: data.id, author: data.author,
          body: data.body, ts: data.ts, client_id: data.client_id, status: "sent", version: 0,
          roomId: room.id, thread: data.thread || null, mentions: data.mentions || [],
          // As it is now (history and resume restate a message: docs/protocol.md).
          edition: data.version || 1, edited_at: data.edited_at || null,
          deleted: Boolean(data.deleted), reactions: chipsOf(data.reactions),
          summary: data.thread_summary || null, following: Boolean(data.following),
          requiresAck: Boolean(data.requires_ack), ack: data.ack || null,
        });
      }
      return;
    }
    if (!["room.created", "member.joined", "member.left"].includes(ev.type)) return;
    const key = `s:${ev.seq}`;
    room.timeline.set(key, { key, kind: "system", seq: ev.seq, type: ev.type, data, version: 0,
      ts: data.ts || null });
    room.bySeq.set(ev.seq, key);
  }

  /** Timeline items in display order: by seq, then unsent messages in send order. */
  timelineOf(room) {
    if (!room.timeline) return [];
    return [...room.timeline.values()].filter((i) => !i.thread).sort(inDisplayOrder);
  }

  // --- events -----------------------------------------------------------------

  _onEvent(frame) {
    const { stream, type, data } = frame;
    if (stream === "presence") {
      this.presence.set(data.user, { status: data.status, last_seen: data.last_seen });
      this.changed();
      return;
    }
    if (this.me && stream === `user:${this.me.id}`) {
      this._onUserEvent(type, data, frame);
      this.changed();
      return;
    }
    if (!stream.startsWith("room:")) return;
    const room = this.rooms.get(Number(stream.slice(5)));
    if (!room) {
      this._scheduleRefresh(); // a room we have not listed yet
      return;
    }
    if (type === "typing") {
      this._onTyping(room, data);
      this.changed();
      return;
    }
    if (frame.seq === undefined || frame.seq === null) return;
    this._addToTimeline(room, frame);
    this._onMessageChange(room, type, data);
    if (type === "thread.updated") this._onThreadUpdated(room, data);
    if (type === "ack.updated") this._onAckUpdated(room, data);
    if (type === "receipt.updated") {
      for (const r of data.reads) {
        if (r.seq > (room.readSeqs.get(r.user.id) || 0)) room.readSeqs.set(r.user.id, r.seq);
      }
    }
    if (type === "room.created" && data.room && data.room.members) {
      room.members = new Map(data.room.members.map((u) => [u.id, u]));
      if (data.room.name) room.name = data.room.name;
    } else if (type === "member.joined" && room.members) {
      room.members.set(data.user.id, data.user);
      this.users.set(data.user.id, data.user);
      this.queryPresence([data.user.id]);
    } else if (type === "member.left" && room.members) {
      room.members.delete(data.user.id);
    }
    if (frame.seq > room.last_seq) {
      room.last_seq = frame.seq;
      if (type === "message.created") {
        room.activity = Math.max(room.activity, data.ts);
        this._stopTyping(room, data.author.id);
        // Counted as the server counts (rooms/counts.py): the room's own messages
        // by others; a thread reply is for the thread's followers.
        if (!data.thread) {
          room.last_message = data;
          const mine = this.me && data.author.id === this.me.id;
          if (!mine && !this.isReading(room.id)) room.unread += 1;
        }
      } else if (type === "message.deleted" && !data.thread && data.seq > room.read_seq
                 && !(this.me && data.author === this.me.id) && room.unread > 0) {
        room.unread -= 1;
      }
    }
    room.version++;
    // Only a message moves the marker: reading over a receipt would be announced as
    // another receipt, and every reader of the room would answer it.
    if (type === "message.created" && this.isReading(room.id)) this.markRead(room);
    this.changed();
  }

  /** An edit, delete or reaction: applied when its version is newer than what we show
   * (two changes made at once may arrive in the other order; the higher version wins). */
  /** An announcement's tally (ack.updated): a newer version starts again, unacknowledged. */
  _onAckUpdated(room, data) {
    const item = this.findMessage(room, data.message);
    if (!item || (item.ack && data.version < item.ack.version)) return;
    const mine = Boolean(item.ack && item.ack.mine && item.ack.version === data.version);
    item.ack = { version: data.version, acked: data.acked, total: data.total, mine };
    item.version++;
    room.version++;
    this.dispatchEvent(new CustomEvent("acks", { detail: { room: room.id, message: data.message } }));
  }

  /** I acknowledged (here or on another device). */
  _onAcked(data) {
    const room = this.rooms.get(data.room);
    const item = room && this.findMessage(room, data.message);
    if (!item || !item.ack || item.ack.version !== data.version) return;
    item.ack = { ...item.ack, mine: true };
    item.version++;
    room.version++;
  }

  acknowledge(room, item) {
    return this.conn.request("message.ack", { room: room.id, message: item.id });
  }

  acksOf(room, item) {
    return this.conn.request("acks.list", { room: room.id, message: item.id });
  }

  /** Whether this employee may send announcements in the room (the server decides). */
  mayAnnounce(room) {
    return ["moderator", "executive", "admin"].includes(this.role)
      || Boolean(room && room.members_announce);
  }

  _onMessageChange(room, type, data) {
    if (!MESSAGE_CHANGES.includes(type)) return;
    const id = type.startsWith("reaction.") ? data.message : data.id;
    const item = this.findMessage(room, id);
    if (!item) return; // not loaded: history will show it as it is now
    // A message this tab sent was shown before the server knew it: nothing changed yet.
    item.edition = item.edition || 1;
    item.reactions = item.reactions || new Map();
    if (type === "message.updated") {
      if (item.deleted || data.version <= item.edition) return;
      Object.assign(item, { body: data.body, edition: data.version, edited_at: data.edited_at });
    } else if (type === "message.deleted") {
      Object.assign(item, { body: "", deleted: true, reactions: new Map() });
    } else {
      const known = item.reactions.get(data.emoji);
      if (known && data.version <= known.version) return;
      const mine = this.me && data.user.id === this.me.id
        ? type === "reaction.added" : Boolean(known && known.mine);
      if (data.count > 0) {
        item.reactions.set(data.emoji, { emoji: data.emoji, count: data.count, mine,
          version: data.version });
      } else item.reactions.delete(data.emoji);
    }
    item.version++;
    room.version++;
  }

  /** A root's summary: the highest version wins, as for edits. */
  _onThreadUpdated(room, data) {
    const root = this.findMessage(room, data.message);
    if (!root || (root.summary && root.summary.version >= data.version)) return;
    const { room: _r, message: _m, ...summary } = data;
    root.summary = summary;
    root.version++;
  }

  findMessage(room, id) {
    for (const items of this._lists(room)) {
      for (const m of items.values()) if (m.kind === "message" && m.id === id) return m;
    }
    return null;
  }

  _threadItems(room, rootId) {
    const thread = room.threads.get(rootId);
    return thread ? thread.items : null;
  }

  // --- threads ----------------------------------------------------------------

  async openThread(room, rootId) {
    let thread = room.threads.get(rootId);
    if (!thread) {
      thread = { items: new Map(), loading: true };
      room.threads.set(rootId, thread);
    }
    this.changed();
    try {
      const reply = await this.conn.request("history", {
        stream: `room:${room.id}`, thread: rootId, limit: 200,
      });
      for (const ev of reply.events) {
        room.bySeq.delete(ev.seq); // history's copy is as the message is now
        this._addToTimeline(room, ev);
      }
    } catch (err) {
      if (!(err instanceof ConnectionLost)) this.notify(`Could not load the thread: ${err.message}`, "error");
    } finally {
      thread.loading = false;
      room.version++;
      this.changed();
    }
  }

  threadOf(room, rootId) {
    const thread = room.threads.get(rootId);
    if (!thread) return [];
    return [...thread.items.values()].sort(inDisplayOrder);
  }

  async setFollowing(room, root, following) {
    const reply = await this.conn.request(following ? "thread.follow" : "thread.unfollow",
      { room: room.id, message: root.id });
    root.following = reply.following;
    root.version++;
    room.version++;
    this.changed();
  }

  // --- changing messages -------------------------------------------------------

  editMessage(room, item, body) {
    return this.conn.request("message.edit", { room: room.id, message: item.id, body });
  }

  deleteMessage(room, item) {
    return this.conn.request("message.delete", { room: room.id, message: item.id });
  }

  toggleReaction(room, item, emoji) {
    const chip = item.reactions && item.reactions.get(emoji);
    return this.conn.request(chip && chip.mine ? "reaction.remove" : "reaction.add",
      { room: room.id, message: item.id, emoji });
  }

  /** My newest message in the room's timeline that can still be edited (Up in the composer). */
  lastEditable(room) {
    return this._mySent(room).filter((m) => !m.deleted).pop() || null;
  }

  /** My sent messages in the room's timeline, oldest first. */
  _mySent(room) {
    return this.timelineOf(room).filter((m) => m.kind === "message" && m.status === "sent"
      && this.me && m.author.id === this.me.id);
  }

  // --- search -----------------------------------------------------------------

  searchMessages(query) {
    return this.conn.request("search", { query, limit: 30 });
  }

  /** Page back until the message with `seq` is loaded (a search result far back). */
  async loadUntil(room, seq) {
    for (let pages = 0; pages < 40; pages++) {
      if (room.loaded && room.oldestSeq !== null && room.oldestSeq <= seq) return true;
      if (!room.loaded) {
        await this.loadLatest(room);
        continue;
      }
      if (!(await this.loadOlder(room))) return false;
    }
    return false;
  }

  _onUserEvent(type, data) {
    if (type === "room.added") {
      const id = data.room.id;
      if (!this.rooms.has(id)) {
        const room = this._newRoom(id, { name: data.room.name, kind: data.room.kind,
          activity: Date.now(), last_seq: data.seq - 1 });
        this.rooms.set(id, room);
        this.fetchMembers(room).then(() => {
          const p = this.partner(room);
          if (p) this.queryPresence([p.id]);
        });
        this._scheduleRefresh(); // its counts and settings, as rooms.list has them
      }
    } else if (type === "room.removed") {
      this._dropRoom(data.room.id);
    } else if (type === "room.muted") {
      const room = this.rooms.get(data.room);
      if (room) {
        room.mute = { level: data.level, until: data.until };
        room.version++;
      }
    } else if (type === "notification.created") {
      if (!this.notes.has(data.id)) {
        this.notes.set(data.id, { ...data, read: false });
        this.notesUnread += 1;
        this.dispatchEvent(new CustomEvent("notification", { detail: data }));
      }
    } else if (type === "notification.read") {
      for (const note of this.notes.values()) {
        if (!note.read && ((data.ids && data.ids.includes(note.id))
            || (data.up_to !== null && note.id <= data.up_to))) {
          note.read = true;
          this.notesUnread = Math.max(0, this.notesUnread - 1);
        }
      }
      this._scheduleNotes(); // reads of older ones than we hold: the server counts them
    } else if (type === "thread.following") {
      const room = this.rooms.get(data.room);
      const root = room && this.findMessage(room, data.message);
      if (root) {
        root.following = data.following;
        root.version++;
        room.version++;
      }
    } else if (type === "message.acked") {
      this._onAcked(data);
    } else if (type === "read.updated") {
      const room = this.rooms.get(data.room);
      if (room && data.seq > room.read_seq) {
        // The server's count at the new marker, as of the room's seq `head`, plus
        // what this tab has seen arrive since.
        room.read_seq = data.seq;
        room.unread = data.unread + this.timelineOf(room).filter((i) => i.kind === "message"
          && i.seq > data.head && !i.thread && !i.deleted && i.author.id !== this.me.id).length;
        room.version++;
      }
    }
  }

  // --- read receipts -----------------------------------------------------------

  /** My newest sent message in the room's timeline. */
  lastMine(room) {
    return this._mySent(room).pop() || null;
  }

  /** Members (not me) whose marker is at or past the message (receipts + receipt.updated). */
  seenBy(room, item) {
    if (!room.members || !item || !item.seq) return [];
    return [...room.members.values()].filter((u) => (!this.me || u.id !== this.me.id)
      && (room.readSeqs.get(u.id) || 0) >= item.seq);
  }

  async loadReceipts(room) {
    const mine = this.lastMine(room);
    // Asked once per message; a room too large for receipts answers too_large.
    if (!mine || !mine.id || !room.members || room.members.size < 2
        || room.receiptsFor === mine.id || !this.conn.ready) return;
    room.receiptsFor = mine.id;
    try {
      const reply = await this.conn.request("receipts", { room: room.id, message: mine.id });
      for (const r of reply.read_by) {
        if (r.seq > (room.readSeqs.get(r.user.id) || 0)) room.readSeqs.set(r.user.id, r.seq);
      }
      room.version++;
      this.changed();
    } catch {
      // Too large, or gone: nothing to show, and not asked again for this message.
    }
  }

  // --- notifications ---------------------------------------------------------

  async refreshNotes() {
    try {
      const reply = await this.conn.request("notifications.list", { limit: 50 });
      this.notes = new Map(reply.notifications.map((n) => [n.id, n]));
      this.notesUnread = reply.unread;
      this.changed();
    } catch {
      // the next ready or read retries
    }
  }

  _scheduleNotes() {
    if (this.notesTimer) return;
    this.notesTimer = setTimeout(() => {
      this.notesTimer = null;
      this.refreshNotes();
    }, 300);
  }

  sortedNotes() {
    return [...this.notes.values()].sort((a, b) => b.id - a.id);
  }

  muteRoom(room, level) {
    return this.conn.request("rooms.mute", { room: room.id, level });
  }

  readNotes(ids) {
    return this.conn.request("notifications.read", { ids });
  }

  readAllNotes() {
    const newest = Math.max(0, ...this.notes.keys());
    return newest ? this.conn.request("notifications.read", { up_to: newest }) : null;
  }

  // --- reading ----------------------------------------------------------------

  markRead(room) {
    const head = this.conn.lastSeq.get(`room:${room.id}`) || room.last_seq;
    if (room.unread) {
      room.unread = 0;
      room.version++;
      this.changed();
    }
    if (head <= room.read_seq || room.readInFlight >= head || !this.conn.ready) return;
    room.readInFlight = head;
    this.conn.request("read", { room: room.id, seq: head }).then((reply) => {
      room.read_seq = Math.max(room.read_seq, reply.seq);
    }, () => {}).finally(() => {
      room.readInFlight = 0;
    });
  }

  // --- typing -----------------------------------------------------------------

  _onTyping(room, data) {
    if (data.thread || !data.user || (this.me && data.user.id === this.me.id)) return;
    const old = room.typing.get(data.user.id);
    if (old) clearTimeout(old.timer);
    if (!data.active) {
      room.typing.delete(data.user.id);
      return;
    }
    const timer = setTimeout(() => {
      room.typing.delete(data.user.id);
      this.changed();
    }, data.expires_in_ms || 6000);
    room.typing.set(data.user.id, { user: data.user, timer });
  }

  _stopTyping(room, userId) {
    const t = room.typing.get(userId);
    if (t) {
      clearTimeout(t.timer);
      room.typing.delete(userId);
    }
  }

  _clearTyping() {
    for (const room of this.rooms.values()) {
      for (const t of room.typing.values()) clearTimeout(t.timer);
      room.typing.clear();
    }
  }

  /** Called on every keystroke in the composer. */
  typing(room, hasText) {
    if (!this.conn.ready) return;
    const last = this.typingSent.get(room.id) || 0;
    if (hasText) {
      if (Date.now() - last < TYPING_EVERY_MS) return;
      this.typingSent.set(room.id, Date.now());
      this.conn.request("typing", { room: room.id }).catch(() => {});
    } else if (last) {
      this.typingSent.delete(room.id);
      this.conn.request("typing", { room: room.id, active: false }).catch(() => {});
    }
  }

  // --- sending ----------------------------------------------------------------

  send(room, body, thread = null, requiresAck = false) {
    const clientId = newClientId();
    const key = `c:${clientId}`;
    const item = {
      key, kind: "message", seq: null, id: null, author: this.me, body, ts: Date.now(),
      client_id: clientId, status: "sending", error: null, version: 0, order: ++this.localOrder,
      roomId: room.id, thread, edition: 1, reactions: new Map(), summary: null,
      requiresAck, ack: null,
    };
    if (!room.timeline) {
      room.timeline = new Map();
      room.bySeq = new Map();
    }
    (thread ? this._threadItems(room, thread) || room.timeline : room.timeline).set(key, item);
    this.typingSent.delete(room.id); // the server ends our typing when the message lands
    room.version++;
    this.changed();
    this._deliver(room, item);
    return item;
  }

  async _deliver(room, item) {
    if (!this.conn.ready) {
      item.status = "queued"; // sent, same client_id, when the socket is back
      item.version++;
      room.version++;
      this.changed();
      return;
    }
    item.status = "sending";
    item.error = null;
    item.version++;
    this.changed();
    try {
      const fields = { room: room.id, body: item.body, client_id: item.client_id };
      if (item.thread) fields.thread = item.thread;
      if (item.requiresAck) fields.requires_ack = true;
      const ack = await this.conn.request("message.send", fields, { timeout: 20000 });
      if (item.status !== "sent") {
        Object.assign(item, { seq: ack.seq, id: ack.id, ts: ack.ts, status: "sent" });
        room.bySeq.set(ack.seq, item.key);
      }
      if (ack.seq > room.last_seq) {
        room.last_seq = ack.seq;
        room.last_message = { id: ack.id, room: room.id, author: this.me, body: item.body,
          client_id: item.client_id, ts: ack.ts };
      }
      room.activity = Math.max(room.activity, ack.ts);
    } catch (err) {
      if (item.status === "sent") return; // the event confirmed it meanwhile
      if (err instanceof ConnectionLost && !this.conn.ready) {
        item.status = "queued"; // sent again, same client_id, when the socket is back
      } else if (err instanceof ConnectionLost) {
        item.status = "failed"; // connected, but no answer in time: the person decides
        item.error = "no answer from the server";
        item.code = "timeout";
      } else {
        item.status = "failed";
        item.error = err.message || String(err);
        item.code = err.code || "internal";
      }
    } finally {
      item.version++;
      room.version++;
      this.changed();
    }
  }

  /** Every list of messages a room holds: its timeline and each opened thread. */
  _lists(room) {
    return [room.timeline, ...[...room.threads.values()].map((t) => t.items)].filter(Boolean);
  }

  _itemByKey(room, key) {
    for (const items of this._lists(room)) if (items.has(key)) return [items, items.get(key)];
    return [null, null];
  }

  flushOutbox() {
    for (const room of this.rooms.values()) {
      for (const items of this._lists(room)) {
        const queued = [...items.values()].filter((i) => i.kind === "message" && i.status === "queued")
          .sort((a, b) => a.order - b.order);
        for (const item of queued) this._deliver(room, item);
      }
    }
  }

  retry(room, key) {
    const [, item] = this._itemByKey(room, key);
    if (item && item.status === "failed") this._deliver(room, item);
  }

  /** A refused message back into the composer: returns its text and drops it. */
  edit(room, key) {
    const [, item] = this._itemByKey(room, key);
    if (!item || item.status !== "failed") return "";
    this.discard(room, key);
    return item.body;
  }

  discard(room, key) {
    const [items, item] = this._itemByKey(room, key);
    if (item && item.status !== "sent") {
      items.delete(key);
      room.version++;
      this.changed();
    }
  }

  unsentCount() {
    let n = 0;
    for (const room of this.rooms.values()) {
      for (const items of this._lists(room)) {
        for (const item of items.values()) if (item.kind === "message" && item.status !== "sent") n++;
      }
    }
    return n;
  }

  // --- room management --------------------------------------------------------

  async createRoom(kind, name, usernames) {
    const reply = await this.conn.request("rooms.create", { kind, name, members: usernames });
    const r = reply.room;
    let room = this.rooms.get(r.id);
    if (!room) {
      room = this._newRoom(r.id, { activity: Date.now() });
      this.rooms.set(r.id, room);
    }
    Object.assign(room, { name: r.name, kind: r.kind });
    room.members = new Map(r.members.map((u) => [u.id, u]));
    for (const u of r.members) this.users.set(u.id, u);
    room.version++;
    this.changed();
    return room;
  }

  invite(room, usernames) {
    return this.conn.request("rooms.invite", { room: room.id, users: usernames });
  }

  async leave(room) {
    await this.conn.request("rooms.leave", { room: room.id });
    this._dropRoom(room.id);
    this.changed();
  }

  async search(query) {
    const reply = await this.conn.request("employees.search", { query, limit: 20 });
    for (const e of reply.employees) this.users.set(e.id, { id: e.id, username: e.username, name: e.name });
    return reply.employees;
  }
}

/** Timeline order: by seq, then unsent messages in the order they were sent. */
function inDisplayOrder(a, b) {
  if (a.seq && b.seq) return a.seq - b.seq;
  if (a.seq) return -1;
  if (b.seq) return 1;
  return a.order - b.order;
}

const MESSAGE_CHANGES = ["message.updated", "message.deleted", "reaction.added",
  "reaction.removed"];

/** A message's reaction chips by emoji, from history's `reactions`. */
function chipsOf(reactions) {
  return new Map((reactions || []).map((c) => [c.emoji, { ...c }]));
}

function newClientId() {
  // crypto.getRandomValues works outside secure contexts too (randomUUID does not).
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "w-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
