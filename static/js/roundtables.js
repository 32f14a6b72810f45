// Round tables (live Q&A with executives): the list I may see and the open round
// table's questions. Events on roundtable:<id> (the audience's), rtmod:<id> (its
// hosts' and moderators') and my own stream (question.mine, question.voted) change
// it; every change fires the store's "change" and the UI redraws from it.
//
// Events carry absolute values (a question as it is now, with its `version`; vote
// counts), so applying one twice, or a resumed one after a fresh roundtable.get,
// changes nothing.

import { ConnectionLost } from "./connection.js";

export const CREATORS = ["executive", "admin"];
const PUBLIC = ["approved", "answered"];
const REFRESH_MS = 400;

export class RoundTables {
  constructor(store) {
    this.store = store;
    this.conn = store.conn;
    this.list = new Map(); // id → brief (roundtables.list)
    this.listLoaded = false;
    this.views = new Map(); // id → the round table as roundtable.get showed it, kept live
    this.currentId = null; // the one open in the main pane
    this.refreshTimer = null;
    this.conn.addEventListener("event", (e) => this._onEvent(e.detail));
    this.conn.addEventListener("ready", () => {
      this.refresh();
      // Whatever went past while away: the open one is read again (the simplest
      // way to end up exactly where a fresh roundtable.get is).
      if (this.currentId !== null) this.load(this.currentId);
    });
    store.addEventListener("notification", (e) => {
      if (e.detail.kind === "roundtable") this._scheduleRefresh();
    });
  }

  get mayCreate() {
    return CREATORS.includes(this.store.role);
  }

  get current() {
    return this.currentId === null ? null : this.views.get(this.currentId) || null;
  }

  changed() {
    this.store.changed();
  }

  // --- the list -----------------------------------------------------------------

  async refresh() {
    let reply;
    try {
      reply = await this.conn.request("roundtables.list");
    } catch (err) {
      if (!(err instanceof ConnectionLost)) this.store.notify(`Could not load round tables: ${err.message}`, "error");
      return;
    }
    this.list = new Map(reply.roundtables.map((rt) => [rt.id, rt]));
    this.listLoaded = true;
    this.changed();
  }

  _scheduleRefresh() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh();
    }, REFRESH_MS);
  }

  /** Live first, then upcoming (soonest first), then past (latest first). */
  sorted() {
    const rank = { live: 0, scheduled: 1, ended: 2 };
    return [...this.list.values()].sort((a, b) => (rank[a.state] ?? 3) - (rank[b.state] ?? 3)
      || (a.state === "scheduled" ? a.starts_at - b.starts_at : b.starts_at - a.starts_at)
      || b.id - a.id);
  }

  // --- one round table --------------------------------------------------------------

  _newView(id, brief = null) {
    return { id, rt: brief, questions: new Map(), pinned: null, seq: 0, loaded: false,
      loading: 0, held: null, version: 0 };
  }

  /** My roles in it: {host, moderator, staff}. */
  rolesOf(view) {
    const me = this.store.me ? this.store.me.id : null;
    const host = Boolean(view.rt && view.rt.hosts.some((u) => u.id === me));
    const moderator = Boolean(view.rt && view.rt.moderators.some((u) => u.id === me));
    return { host, moderator, staff: host || moderator };
  }

  open(id) {
    this.currentId = id;
    if (!this.views.has(id)) this.views.set(id, this._newView(id, this.list.get(id) || null));
    this.changed();
    return this.load(id);
  }

  close() {
    this.currentId = null;
    this.changed();
  }

  /** roundtable.get: the snapshot, then the events held while it was asked for
   * (those past its seq on the audience's stream; mine and rtmod's by version).
   * Null when refused (the error is shown) or the connection dropped (the next
   * ready asks again). */
  async load(id, { chat = false } = {}) {
    if (!this.views.has(id)) this.views.set(id, this._newView(id, this.list.get(id) || null));
    const view = this.views.get(id);
    view.loading += 1;
    view.held = view.held || [];
    let reply;
    try {
      reply = await this.conn.request("roundtable.get", chat ? { roundtable: id, chat: true }
        : { roundtable: id });
    } catch (err) {
      view.loading -= 1;
      if (!view.loading) view.held = null;
      if (!(err instanceof ConnectionLost)) {
        this.store.notify(`Could not open the round table: ${err.message}`, "error");
        if (!view.loaded) {
          this.views.delete(id);
          if (this.currentId === id) this.currentId = null;
        }
      }
      this.changed();
      return null;
    }
    view.loading -= 1;
    const held = view.held || [];
    if (!view.loading) view.held = null;
    view.rt = reply.roundtable;
    view.questions = new Map(reply.questions.map((q) => [q.id, { ...q }]));
    view.pinned = reply.pinned;
    view.seq = reply.seq;
    view.loaded = true;
    for (const frame of held) {
      if (frame.stream === `roundtable:${id}` && frame.seq <= reply.seq) continue;
      this._apply(view, frame);
    }
    this.list.set(id, view.rt);
    view.version++;
    this.changed();
    return view;
  }

  // --- events ---------------------------------------------------------------------

  _onEvent(frame) {
    const { stream, type, data } = frame;
    let id = null;
    if (stream.startsWith("roundtable:")) id = Number(stream.slice(11));
    else if (stream.startsWith("rtmod:")) id = Number(stream.slice(6));
    else if (this.store.me && stream === `user:${this.store.me.id}`
             && (type === "question.mine" || type === "question.voted")) id = data.roundtable;
    if (id === null) return;
    if (type === "roundtable.created") {
      this.list.set(id, data.roundtable);
    } else if (type === "roundtable.state") {
      const brief = this.list.get(id);
      if (brief) this.list.set(id, withState(brief, data));
      this._scheduleRefresh();
    }
    const view = this.views.get(id);
    if (view) {
      if (view.held) view.held.push(frame);
      this._apply(view, frame);
      view.version++;
    }
    this.changed();
  }

  _apply(view, { type, data }) {
    if (type === "roundtable.created") {
      view.rt = data.roundtable;
    } else if (type === "roundtable.state") {
      if (view.rt) view.rt = withState(view.rt, data);
    } else if (type === "question.created" || type === "question.updated"
               || type === "question.mine") {
      this._upsert(view, data.question);
    } else if (type === "question.votes") {
      for (const v of data.votes) {
        const q = view.questions.get(v.question);
        if (q) q.votes = v.votes;
      }
    } else if (type === "question.pinned") {
      view.pinned = data.question;
    } else if (type === "question.voted") {
      const q = view.questions.get(data.question);
      if (q) q.voted = data.up;
    }
  }

  /** A question as an event or a reply has it: a newer version wins; what only my
   * own views carry (`mine`, `voted`, `reason`) is kept. */
  _upsert(view, q) {
    const known = view.questions.get(q.id);
    if (known && q.version < known.version) return;
    const merged = { ...known, ...q };
    // An equal version is the same change seen on another stream: its count may be
    // older than a question.votes already applied.
    if (known && q.version === known.version) merged.votes = known.votes;
    if (q.state === "merged" && known && known.voted) {
      // My vote moved to the question it was merged into (each voter once).
      const target = view.questions.get(q.merged_into);
      if (target) target.voted = true;
      merged.voted = false;
    }
    view.questions.set(q.id, merged);
  }

  // --- what the view shows ----------------------------------------------------------

  /** The audience's order: most votes first, then the earliest asked. */
  ranked(view, states) {
    return [...view.questions.values()].filter((q) => states.includes(q.state))
      .sort((a, b) => b.votes - a.votes || a.asked_at - b.asked_at || a.id - b.id);
  }

  pinnedQuestion(view) {
    const q = view.pinned === null ? null : view.questions.get(view.pinned);
    return q && PUBLIC.includes(q.state) ? q : null;
  }

  /** Questions waiting for a moderator (only the staff learn of others' ones). */
  pending(view) {
    return [...view.questions.values()].filter((q) => q.state === "pending" && !q.mine)
      .sort((a, b) => a.asked_at - b.asked_at || a.id - b.id);
  }

  /** My questions not (or no longer) in the public list. */
  mineHidden(view) {
    return [...view.questions.values()].filter((q) => q.mine
      && ["pending", "rejected", "merged"].includes(q.state))
      .sort((a, b) => a.asked_at - b.asked_at || a.id - b.id);
  }

  // --- ops --------------------------------------------------------------------------

  async create(fields) {
    const reply = await this.conn.request("roundtable.create", fields);
    this.list.set(reply.roundtable.id, reply.roundtable);
    this.changed();
    return reply.roundtable;
  }

  async setState(view, step) {
    const reply = await this.conn.request(`roundtable.${step}`, { roundtable: view.id });
    const at = Date.now();
    view.rt = withState(view.rt, { state: reply.state, at });
    this.list.set(view.id, withState(this.list.get(view.id) || view.rt, { state: reply.state, at }));
    view.version++;
    this.changed();
  }

  /** question.ask, idempotent by client_id: the same text sent again (a lost reply)
   * reuses the id, so it is stored once. */
  async ask(view, body, anonymous, draft) {
    if (!draft.clientId || draft.body !== body || draft.anonymous !== anonymous) {
      Object.assign(draft, { body, anonymous, clientId: newClientId() });
    }
    const reply = await this.conn.request("question.ask",
      { roundtable: view.id, body, anonymous, client_id: draft.clientId });
    draft.clientId = null;
    this._upsert(view, reply.question);
    view.version++;
    this.changed();
    return reply.question;
  }

  async edit(view, q, body) {
    const reply = await this.conn.request("question.edit", { question: q.id, body });
    this._upsert(view, reply.question);
    view.version++;
    this.changed();
  }

  async withdraw(view, q) {
    await this.conn.request("question.withdraw", { question: q.id });
    // question.mine brings the withdrawn state; until then nothing else to do.
  }

  async vote(view, q) {
    const reply = await this.conn.request("question.vote", { question: q.id, up: !q.voted });
    const known = view.questions.get(q.id);
    if (known) Object.assign(known, { voted: reply.up, votes: reply.votes });
    view.version++;
    this.changed();
  }

  moderate(q, action, extra = {}) {
    return this.conn.request("question.moderate", { question: q.id, action, ...extra });
  }

  pin(view, q) {
    return this.conn.request("question.pin", { roundtable: view.id, question: q ? q.id : null });
  }

  answer(q, text) {
    return this.conn.request("question.answer", { question: q.id, answer: text });
  }
}

function withState(brief, { state, at }) {
  const stamp = state === "live" ? { started_at: at } : state === "ended" ? { ended_at: at } : {};
  return { ...brief, state, ...stamp };
}

function newClientId() {
  // As the message composer's (store.js): random, and outside secure contexts too.
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "q-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
