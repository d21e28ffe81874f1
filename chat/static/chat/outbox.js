// The outbox's rules apart from the page: unsent messages kept per room and user in a Web
// Storage until the server acknowledges them (tabs of one user share it), the order they
// go out in, and the pacing of sends after a refusal. No DOM and no socket; the storage,
// the clock and the random source are parameters, so tests give their own.

export const OUTBOX_PREFIX = "chat:outbox:v1:";
export const BACKOFF_CAP_MS = 30000;
export const SEND_GAP_MIN_MS = 100; // sends spaced after a rate_limited reply: at first this
export const SEND_GAP_MAX_MS = 5000; // ... doubling on each refusal up to this
export const RETRY_BASE_MS = 2000; // a retryable error: wait about this, doubling per retry

// The page's localStorage, or null where the browser refuses it (merely naming it can
// throw when storage is blocked).
export function browserStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export class Outbox {
  // storage: a Web Storage (getItem, setItem, removeItem) or null for memory only.
  constructor(storage) {
    this.storage = storage;
    this.memory = new Map(); // key -> entries, when the storage is unusable
    this.storageOk = (() => {
      try {
        storage.setItem("chat:probe", "1");
        storage.removeItem("chat:probe");
        return true;
      } catch {
        return false;
      }
    })();
  }

  key(slug, username) {
    return `${OUTBOX_PREFIX}${slug}:${username}`;
  }

  // The entries in the order written; anything malformed (another version, a hand edit)
  // is left out rather than sent.
  load(slug, username) {
    const key = this.key(slug, username);
    if (!this.storageOk) return (this.memory.get(key) || []).slice();
    try {
      const parsed = JSON.parse(this.storage.getItem(key) || "[]");
      if (!Array.isArray(parsed)) return [];
      return parsed.filter((e) => e && typeof e.client_id === "string" && typeof e.body === "string");
    } catch {
      return (this.memory.get(key) || []).slice();
    }
  }

  save(slug, username, entries) {
    const key = this.key(slug, username);
    this.memory.set(key, entries.slice());
    if (!this.storageOk) return;
    try {
      if (entries.length) this.storage.setItem(key, JSON.stringify(entries));
      else this.storage.removeItem(key);
    } catch {
      this.storageOk = false; // full or blocked: this tab keeps its outbox in memory
    }
  }

  add(slug, username, entry) {
    const entries = this.load(slug, username);
    entries.push(entry);
    this.save(slug, username, entries);
  }

  remove(slug, username, clientId) {
    const entries = this.load(slug, username);
    const kept = entries.filter((e) => e.client_id !== clientId);
    if (kept.length !== entries.length) this.save(slug, username, kept);
  }
}

// `queue` (client_ids waiting to go) with `clientId` added once, sorted in outbox order
// (`order`: the outbox's client_ids, oldest first), so a retried message goes back
// before younger ones (docs/protocol.md, "Order of one user's messages"). Sorts in place.
export function queueInOrder(queue, clientId, order) {
  if (!queue.includes(clientId)) queue.push(clientId);
  queue.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return queue;
}

// Take from the front of `queue` the first client_id still in `entries` (the others were
// settled or failed meanwhile) and return its entry, or null when none is left.
export function nextEntry(queue, entries) {
  while (queue.length) {
    const clientId = queue.shift();
    const entry = entries.find((e) => e.client_id === clientId);
    if (entry) return entry;
  }
  return null;
}

// The message.send frame of an outbox entry: its original client_id, so a resend of a
// message the server already has returns that message instead of a copy.
export function sendFrame(slug, entry) {
  const frame = { type: "message.send", room: slug, body: entry.body, client_id: entry.client_id };
  if (Number.isInteger(entry.reply_to)) frame.reply_to = entry.reply_to;
  if (Number.isInteger(entry.thread)) {
    frame.thread = entry.thread; // a reply in a thread (threadpanel.js)
    frame.also_to_room = entry.also_to_room === true;
  }
  return frame;
}

// When the next send may go: held after a refusal, then spaced while the server is busy.
export class SendPacing {
  constructor({ now = Date.now, random = Math.random } = {}) {
    this.now = now;
    this.random = random;
    this.retries = new Map(); // client_id -> retries so far
    this.heldUntil = 0; // no send before this time (ms, of `now`)
    this.gapMs = 0; // after rate_limited: the space between sends until the queues empty
  }

  // Milliseconds to wait before the next send (0 or less: now).
  wait() {
    return this.heldUntil - this.now();
  }

  // A send went out: the next one waits the current gap.
  sent() {
    if (this.gapMs) this.heldUntil = this.now() + this.gapMs;
  }

  // Nothing left to send: back to full speed.
  caughtUp() {
    this.gapMs = 0;
  }

  forget(clientId) {
    this.retries.delete(clientId);
  }

  // A send of `clientId` was refused for now: rate_limited with its retry_after
  // (`afterSeconds` > 0) widens the gap between sends; a retryable error (0) backs off
  // exponentially with jitter. Every send is held; the delay is returned.
  refused(clientId, afterSeconds) {
    const n = this.retries.get(clientId) || 0;
    this.retries.set(clientId, n + 1);
    let delay;
    if (afterSeconds > 0) {
      this.gapMs = Math.min(SEND_GAP_MAX_MS, Math.max(SEND_GAP_MIN_MS, this.gapMs * 2));
      delay = Math.min(BACKOFF_CAP_MS, Math.max(afterSeconds * 1000, this.gapMs));
    } else {
      delay = Math.min(BACKOFF_CAP_MS, RETRY_BASE_MS * 2 ** n) * (0.5 + this.random() / 2);
    }
    this.heldUntil = Math.max(this.heldUntil, this.now() + delay);
    return delay;
  }
}
