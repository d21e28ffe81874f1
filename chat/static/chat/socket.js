// The page's one WebSocket to /ws/chat/ (docs/protocol.md, "One connection for all
// rooms"): connect, resume with ?after=slug:seq,..., reconnect with exponential backoff
// and full jitter, and match replies to the frames that asked for them. It knows no room
// and renders nothing: the page hands it callbacks.

import { RESTART_TRIES, fullJitter, restartDelay, restartSpread, tooManyDelay } from "./backoff.js";
import { CloseCode, ErrorCode } from "./codes.js";

const HELLO_TIMEOUT_MS = 15000; // a connection with no hello by then is dropped
// Errors that only message.edit / message.delete produce (their frames name no room).
const CHANGE_ERRORS = new Set([
  ErrorCode.NOT_FOUND,
  ErrorCode.EMPTY_BODY,
  ErrorCode.BODY_TOO_LONG,
  ErrorCode.MUTED,
  ErrorCode.ROOM_LOCKED,
]);

export const State = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
  IDLE: "idle",
  CLOSED: "closed",
});

// What the page's status pill says in each state (CLOSED: unless the page says why).
export const STATE_TEXT = Object.freeze({
  [State.CLOSED]: "closed",
  [State.CONNECTED]: "connected",
  [State.IDLE]: "paused — type or click to reconnect",
  [State.OFFLINE]: "offline",
  [State.RECONNECTING]: "reconnecting…",
  [State.CONNECTING]: "connecting…",
});

export class Connection {
  // handlers: resumePoints() -> [[slug, seq], ...]; onHello(frame); onFrame(frame, tag);
  // onDown() (the socket is gone, replies will never come); onState(); onStopped(code).
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.ready = false; // the current socket has had its hello
    this.everConnected = false;
    this.stopped = false; // 4401 / 4403: never again
    this.idle = false; // 4408: reconnect on the user's next interaction
    this.attempt = 0; // reconnect attempts since the last hello
    this.resumable = true; // false after a 4400: reconnect without ?after once
    this.restart = null; // after a 1012 until the next hello: {spread, tries} (backoff.js)
    this.reconnectTimer = null;
    this.helloTimer = null;
    // Frames sent on this socket that may still be answered, in the order sent (the
    // server answers in that order): message.send -> ack | error, history.fetch ->
    // history | error, message.edit / message.delete -> error only (success is the
    // broadcast), room.join / room.leave / room.watch / online.fetch -> their frame | error,
    // thread.follow / thread.read -> thread.state | error, threads.fetch -> threads | error.
    this.inflight = [];
    this.sockets = 0; // sockets opened, for the curious (tests count them too)
    this.listen();
  }

  state() {
    if (this.stopped) return State.CLOSED;
    if (this.ready) return State.CONNECTED;
    if (this.idle) return State.IDLE;
    if (!navigator.onLine) return State.OFFLINE;
    return this.everConnected ? State.RECONNECTING : State.CONNECTING;
  }

  isOpen() {
    return this.ready && this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}/ws/chat/`;
    if (this.resumable) {
      const points = this.handlers.resumePoints().slice(0, 200); // the protocol's cap
      if (points.length) {
        url += "?after=" + points.map(([slug, seq]) => `${encodeURIComponent(slug)}:${seq}`).join(",");
      }
    }
    return url;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.stopped || this.socket) return;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect(null);
      return;
    }
    this.sockets += 1;
    this.socket = ws;
    this.ready = false;
    this.inflight = [];
    ws.onmessage = (event) => {
      if (ws !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === "string") this.receive(frame);
    };
    ws.onclose = (event) => {
      if (ws === this.socket) this.closed(event.code, event.reason);
    };
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(() => {
      if (ws === this.socket && !this.ready) this.abandon(); // a silent network
    }, HELLO_TIMEOUT_MS);
    this.handlers.onState();
  }

  receive(frame) {
    if (frame.type === "hello") {
      clearTimeout(this.helloTimer);
      this.ready = true;
      this.everConnected = true;
      this.attempt = 0;
      this.resumable = true;
      this.restart = null;
      this.handlers.onHello(frame);
      this.handlers.onState();
      return;
    }
    if (!this.ready) return;
    this.handlers.onFrame(frame, this.tagFor(frame));
  }

  // Which of this socket's frames a reply answers (undefined for broadcasts).
  tagFor(frame) {
    const room = typeof frame.room === "string" ? frame.room : null;
    switch (frame.type) {
      case "ack":
        return this.take((t) => t.kind === "send" && t.clientId === frame.client_id);
      case "history": {
        // A thread's replies answer the fetch that named that thread (threadpanel.js).
        const thread = Number.isInteger(frame.thread) ? frame.thread : null;
        return this.take((t) => t.kind === "fetch" && (room === null || t.room === room) && (t.thread ?? null) === thread);
      }
      case "thread.state":
        return this.take((t) => t.kind === "thread" && t.room === room && t.root === frame.root);
      case "threads":
        return this.take((t) => t.kind === "threads");
      case "online":
        return this.take((t) => t.kind === "online" && t.room === room);
      case "room.watching":
        return this.take((t) => t.kind === "watch");
      case "room.joined": {
        const slug = frame.room && frame.room.slug;
        return this.take((t) => t.kind === "join" && t.room === slug);
      }
      case "room.left":
        return this.take((t) => t.kind === "leave" && t.room === room);
      case "error":
        return this.errorTag(frame, room);
      default:
        return undefined;
    }
  }

  errorTag(frame, room) {
    if (typeof frame.client_id === "string" && frame.client_id) {
      const clientId = frame.client_id;
      return (
        this.take((t) => t.kind === "send" && t.clientId === clientId) || {
          kind: "send",
          clientId,
          room,
        }
      );
    }
    let tag;
    if (CHANGE_ERRORS.has(frame.code)) tag = this.take(isChange);
    // threads.fetch names no room; a bad root answers a thread's frame, not the room's.
    if (frame.code === ErrorCode.BAD_CURSOR) tag = this.take((t) => t.kind === "threads");
    if (frame.code === ErrorCode.BAD_THREAD) tag = this.take((t) => t.room === room && (t.kind === "thread" || t.thread !== undefined));
    if (!tag && room !== null) tag = this.take((t) => t.kind !== "send" && t.room === room);
    return tag || this.take((t) => t.kind !== "send");
  }

  // Take the tag a reply answers: the first one `matches` accepts. An edit or delete
  // sent before it and still unanswered was answered by nothing: it succeeded (its
  // broadcast comes on its own), so it is dropped too.
  take(matches) {
    const at = this.inflight.findIndex(matches);
    if (at < 0) return undefined;
    const tag = this.inflight[at];
    this.inflight = this.inflight.filter((t, i) => i > at || (i < at && !isChange(t)));
    return tag;
  }

  // Send a frame now; true when it went out. `tag` (optional) is handed back with the
  // reply. Nothing is queued here: the outbox is the composer's.
  send(frame, tag) {
    if (!this.isOpen()) return false;
    try {
      this.socket.send(JSON.stringify(frame));
    } catch {
      return false; // closing: the close handler reconnects
    }
    if (tag) this.inflight.push(tag);
    return true;
  }

  hasInflight(matches) {
    return this.inflight.some(matches);
  }

  // Forget the current socket now, without waiting for a close handshake that may never
  // come, and reconnect as after a lost connection.
  abandon() {
    const ws = this.socket;
    if (!ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close();
    } catch {
      /* already closed */
    }
    this.closed(CloseCode.ABNORMAL_CLOSURE);
  }

  closed(code, reason = "") {
    const hadHello = this.ready;
    clearTimeout(this.helloTimer);
    this.socket = null;
    this.ready = false;
    this.inflight = [];
    this.handlers.onDown();
    if (code === CloseCode.UNAUTHENTICATED) {
      this.stopped = true;
      location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (code === CloseCode.FORBIDDEN) {
      // The whole account is refused (deactivated, banned site-wide): for good. Losing
      // one room is a room.left frame, not a close.
      this.stopped = true;
      this.handlers.onStopped(code);
      this.handlers.onState();
      return;
    }
    if (code === CloseCode.IDLE) {
      // Closed for idleness: reconnecting at once would only be closed again.
      this.idle = true;
      this.handlers.onState();
      return;
    }
    if (code === CloseCode.BAD_REQUEST) this.resumable = false; // the resume point was refused
    if (code === CloseCode.TOO_MANY) {
      // Too many connections or attempts (or a flood): never at once, slower each time.
      this.scheduleReconnect(tooManyDelay(this.attempt));
      this.attempt += 1;
    } else if (code === CloseCode.SERVICE_RESTART && hadHello) {
      // A restart: every page of the process gets this at once; spread them over the
      // window the server asked for (the balancer sends each to a process that serves).
      this.restart = { spread: restartSpread(reason), tries: 0 };
      this.scheduleReconnect(restartDelay(Math.random, this.restart.spread));
    } else if (this.restart && this.restart.tries < RESTART_TRIES) {
      // An attempt during a restart failed (a process refusing while it stops or
      // starts, a handshake that timed out): again within the window, not slower.
      this.restart.tries += 1;
      this.scheduleReconnect(restartDelay(Math.random, this.restart.spread));
    } else {
      this.scheduleReconnect(null);
    }
    this.handlers.onState();
  }

  scheduleReconnect(delay) {
    if (delay === null) {
      delay = fullJitter(this.attempt);
      this.attempt += 1;
    }
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  // After a 4408: the next sign of a user at the page reconnects.
  wake() {
    if (!this.idle || this.stopped) return;
    this.idle = false;
    this.attempt = 0;
    this.connect();
  }

  listen() {
    const wake = () => this.wake();
    for (const type of ["keydown", "pointerdown", "click", "focusin"]) {
      document.addEventListener(type, wake, true);
    }
    window.addEventListener("focus", wake);
    window.addEventListener("offline", () => {
      if (this.socket) this.abandon(); // most likely dead; do not wait for TCP
      this.handlers.onState();
    });
    window.addEventListener("online", () => {
      if (this.stopped) return;
      if (this.socket && !this.ready) this.abandon();
      if (!this.socket && !this.idle) {
        this.attempt = 0;
        this.connect();
      }
      this.handlers.onState();
    });
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted || this.stopped) return; // back from the back/forward cache:
      if (this.socket) this.abandon(); // its socket did not survive
      this.idle = false;
      this.connect();
    });
  }
}

function isChange(tag) {
  return tag.kind === "edit" || tag.kind === "delete";
}
