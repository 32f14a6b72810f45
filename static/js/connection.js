// The socket: one WebSocket to /ws/ on the colloquy.v1.json subprotocol.
//
// It keeps the last seq it has seen on every stream (starting from hello.streams),
// drops any event whose seq it has already seen, and when the socket drops it
// reopens with exponential backoff and jitter. The first request on a reopened
// socket is always `resume` with those seqs, so the server replays exactly the
// missed events before any live ones (docs/protocol.md, "Ordering"). The same
// rules as colloquy_client/__init__.py, the Python reference client.

export const SUBPROTOCOL = "colloquy.v1.json";

const BACKOFF_FIRST_MS = 300;
const BACKOFF_MAX_MS = 15000;
const REQUEST_TIMEOUT_MS = 15000;
const PING_TIMEOUT_MS = 10000;

export class RequestError extends Error {
  /** The server answered with an error frame; `code` is its stable code. */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class ConnectionLost extends Error {
  constructor(message = "connection lost") {
    super(message);
    this.code = "connection_lost";
  }
}

/** Token bucket mirroring the server's per-connection rate limit (with a margin). */
class Bucket {
  constructor(rate, burst) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.at = performance.now();
  }
  refill() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
  }
  take() {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) / this.rate) * 1000; // ms until the next token
  }
}

/**
 * Events (EventTarget):
 *   "state"  detail {state, attempt, retryAt}  connecting | open | reconnecting | closed
 *   "hello"  detail hello frame                 before resume (replayed events follow)
 *   "ready"  detail {hello, reconnected}        after hello + resume on every (re)connect
 *   "event"  detail frame                       a stream event, never a repeated seq
 *   "closed" detail {code, reason}              the server said not to come back (4003)
 */
export class Connection extends EventTarget {
  constructor(url = defaultUrl()) {
    super();
    this.url = url;
    this.state = "idle";
    this.hello = null;
    this.lastSeq = new Map(); // stream → last seq seen
    this.duplicates = 0; // events dropped because their seq was already seen
    this.reconnects = 0;
    this.ws = null;
    this.ref = 0;
    this.pending = new Map(); // ref → {resolve, reject, timer}
    this.queue = []; // requests waiting for the socket or for a rate token
    this.attempt = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.bucket = new Bucket(10, 30);
    this.pumpTimer = null;
    this.heartbeat = null;
    this.lastSent = 0;
    this.everOpened = false;
    this.stopped = false;
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retryNow();
    });
  }

  start() {
    this.stopped = false;
    this._open();
  }

  /** Reconnect at once if we are waiting out a backoff delay. */
  retryNow() {
    if (this.state !== "reconnecting" || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this._open();
  }

  /** Close for good (logging out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000);
  }

  _setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", {
      detail: { state, attempt: this.attempt, retryAt: this.retryAt },
    }));
  }

  // --- lifecycle ------------------------------------------------------------

  _open() {
    this._setState(this.everOpened ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch {
      this._scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      this._onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._onClose(ev.code, ev.reason, opened);
    };
  }

  _onClose(code, reason, opened) {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
    const lost = new ConnectionLost(`connection closed (${code})`);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(lost);
    }
    this.pending.clear();
    if (this.stopped) {
      this._setState("closed");
      return;
    }
    if (code === 4003) {
      // Deactivated: the server asks us not to come back.
      this.queue.splice(0).forEach((q) => q.reject(new RequestError("deactivated", reason)));
      this._setState("closed");
      this.dispatchEvent(new CustomEvent("closed", { detail: { code, reason } }));
      return;
    }
    // 4029: we flooded the server; start the backoff seconds out, not at once.
    if (code === 4029) this.attempt = Math.max(this.attempt, 5);
    this._scheduleReconnect(opened, code);
  }

  async _scheduleReconnect(opened, code) {
    if (!opened || code === 4001) {
      // A refused handshake looks like any network error from a page; ask the
      // HTTP side whether the session is still valid before trying again.
      if (await sessionExpired()) {
        window.location.assign("/login/?next=" + encodeURIComponent(location.pathname));
        return;
      }
    }
    // Exponential backoff with jitter (0.5×–1.5×): a thousand tabs reconnecting
    // after a restart spread out instead of arriving together.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random()));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this._setState("reconnecting");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this._open();
    }, delay);
  }

  async _onHello(hello) {
    const reconnected = this.everOpened;
    this.hello = hello;
    const limits = hello.limits || {};
    // Stay under the server's limit so we never see rate_limited in normal use.
    this.bucket = new Bucket((limits.rate_per_second || 20) * 0.8,
      Math.max(1, Math.floor((limits.rate_burst || 60) * 0.8)));
    // Streams this socket can read now; a stream we knew but lost (a room left
    // while offline) cannot be resumed: its room.removed comes on user:<id>.
    const streams = hello.streams || {};
    for (const stream of [...this.lastSeq.keys()]) {
      if (!(stream in streams)) this.lastSeq.delete(stream);
    }
    for (const [stream, seq] of Object.entries(streams)) {
      if (!this.lastSeq.has(stream)) this.lastSeq.set(stream, seq);
    }
    this.dispatchEvent(new CustomEvent("hello", { detail: hello }));
    // resume is the first request: missed events, then the held live ones.
    try {
      let wanted = Object.fromEntries(this.lastSeq);
      for (let round = 0; round < 50 && Object.keys(wanted).length; round++) {
        this.bucket.tokens -= 1;
        const reply = await this._send("resume", { streams: wanted });
        wanted = reply.more || {};
      }
    } catch (err) {
      if (err instanceof ConnectionLost) return; // onclose schedules the next try
      console.warn("resume failed", err);
    }
    if (!this.ws) return;
    this.everOpened = true;
    if (reconnected) this.reconnects += 1;
    this.attempt = 0;
    this._setState("open");
    this._startHeartbeat(hello.heartbeat_s || 25);
    this.dispatchEvent(new CustomEvent("ready", { detail: { hello, reconnected } }));
    this._pump();
  }

  _startHeartbeat(seconds) {
    clearInterval(this.heartbeat);
    const every = Math.max(5, seconds * 1000 * 0.8);
    this.heartbeat = setInterval(() => {
      if (this.state !== "open" || performance.now() - this.lastSent < every) return;
      const ws = this.ws;
      const timer = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed.
        if (ws && ws === this.ws) ws.close(4000, "ping timeout");
      }, PING_TIMEOUT_MS);
      this.request("ping").then(() => clearTimeout(timer), () => clearTimeout(timer));
    }, Math.min(every, 10000));
  }

  // --- frames ---------------------------------------------------------------

  _onFrame(frame) {
    switch (frame.op) {
      case "hello":
        this._onHello(frame);
        return;
      case "ok":
      case "error": {
        const p = this.pending.get(frame.ref);
        if (!p) return;
        this.pending.delete(frame.ref);
        clearTimeout(p.timer);
        if (frame.op === "ok") p.resolve(frame);
        else p.reject(new RequestError(frame.code, frame.message));
        return;
      }
      case "event":
        this._onEvent(frame);
        return;
      default:
    }
  }

  _onEvent(frame) {
    const { stream, seq } = frame;
    if (seq !== undefined && seq !== null) {
      if (seq <= (this.lastSeq.get(stream) || 0)) {
        this.duplicates += 1;
        return;
      }
      this.lastSeq.set(stream, seq);
      if (frame.type === "room.added") {
        const room = `room:${frame.data.room.id}`;
        if (!this.lastSeq.has(room)) this.lastSeq.set(room, frame.data.seq - 1);
      } else if (frame.type === "room.removed") {
        this.lastSeq.delete(`room:${frame.data.room.id}`);
      }
    }
    this.dispatchEvent(new CustomEvent("event", { detail: frame }));
  }

  // --- requests -------------------------------------------------------------

  /**
   * Send a request once the socket is ready; resolves with the ok frame,
   * rejects with RequestError (error frame) or ConnectionLost.
   */
  request(op, fields = {}, { timeout = REQUEST_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
      const item = { op, fields, resolve, reject, timeout };
      item.deadline = setTimeout(() => {
        const i = this.queue.indexOf(item);
        if (i >= 0) {
          this.queue.splice(i, 1);
          reject(new ConnectionLost("not connected"));
        }
      }, timeout);
      this.queue.push(item);
      this._pump();
    });
  }

  get ready() {
    return this.state === "open" && this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  _pump() {
    if (this.pumpTimer) return;
    while (this.queue.length && this.ready) {
      const wait = this.bucket.take();
      if (wait > 0) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = null;
          this._pump();
        }, wait);
        return;
      }
      const item = this.queue.shift();
      clearTimeout(item.deadline);
      this._send(item.op, item.fields, item.timeout).then(item.resolve, item.reject);
    }
  }

  _send(op, fields, timeout = REQUEST_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new ConnectionLost("not connected"));
        return;
      }
      const ref = ++this.ref;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new ConnectionLost(`no reply to ${op}`));
      }, timeout);
      this.pending.set(ref, { resolve, reject, timer });
      this.lastSent = performance.now();
      ws.send(JSON.stringify({ op, ref, ...fields }));
    });
  }
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/`;
}

async function sessionExpired() {
  try {
    const r = await fetch("/", { redirect: "manual", cache: "no-store", credentials: "same-origin" });
    return r.type === "opaqueredirect" || r.status === 302;
  } catch {
    return false; // the server is down: keep trying
  }
}
