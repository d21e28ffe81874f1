// The outbox's rules (chat/static/chat/outbox.js): unsent messages kept until the server
// acknowledges them, resent in the order written, and paced after refusals.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  nextEntry,
  Outbox,
  OUTBOX_PREFIX,
  queueInOrder,
  SEND_GAP_MAX_MS,
  SendPacing,
  sendFrame,
} from "../../chat/static/chat/outbox.js";

// A Web Storage over a Map; `failAfter` writes succeed, then every write throws (full).
class FakeStorage {
  constructor({ failAfter = Infinity } = {}) {
    this.items = new Map();
    this.writesLeft = failAfter;
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    if (this.writesLeft <= 0) throw new Error("QuotaExceededError");
    this.writesLeft -= 1;
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

const entry = (id, fields = {}) => ({ client_id: id, body: `body ${id}`, created_at: "2024-01-01T00:00:00Z", ...fields });
const ids = (entries) => entries.map((e) => e.client_id);

test("unsent messages stay, in the order written, until acknowledged", () => {
  const storage = new FakeStorage();
  const outbox = new Outbox(storage);
  outbox.add("general", "alice", entry("a"));
  outbox.add("general", "alice", entry("b"));
  outbox.add("general", "alice", entry("c"));
  assert.deepEqual(ids(outbox.load("general", "alice")), ["a", "b", "c"]);
  outbox.remove("general", "alice", "b"); // its ack came
  assert.deepEqual(ids(outbox.load("general", "alice")), ["a", "c"]);
  outbox.remove("general", "alice", "a");
  outbox.remove("general", "alice", "c");
  assert.deepEqual(outbox.load("general", "alice"), []);
  assert.equal(storage.items.size, 0, "an empty outbox leaves no key behind");
});

test("the outbox survives a reload and is shared by the user's tabs, per room and user", () => {
  const storage = new FakeStorage();
  new Outbox(storage).add("general", "alice", entry("a", { reply_to: 7 }));
  new Outbox(storage).add("random", "alice", entry("b"));
  new Outbox(storage).add("general", "bob", entry("c"));
  const reloaded = new Outbox(storage);
  assert.deepEqual(reloaded.load("general", "alice"), [entry("a", { reply_to: 7 })]);
  assert.deepEqual(ids(reloaded.load("random", "alice")), ["b"]);
  assert.deepEqual(ids(reloaded.load("general", "bob")), ["c"]);
  assert.ok(storage.items.has(`${OUTBOX_PREFIX}general:alice`));
});

test("malformed stored entries are dropped, not sent", () => {
  const storage = new FakeStorage();
  const key = `${OUTBOX_PREFIX}general:alice`;
  storage.setItem(key, JSON.stringify([entry("a"), null, { client_id: 5, body: "x" }, { client_id: "d" }, entry("e")]));
  assert.deepEqual(ids(new Outbox(storage).load("general", "alice")), ["a", "e"]);
  storage.setItem(key, JSON.stringify({ not: "a list" }));
  assert.deepEqual(new Outbox(storage).load("general", "alice"), []);
});

test("without a usable storage the outbox lives in memory", () => {
  for (const storage of [null, new FakeStorage({ failAfter: 0 })]) {
    const outbox = new Outbox(storage);
    assert.equal(outbox.storageOk, false);
    outbox.add("general", "alice", entry("a"));
    outbox.add("general", "alice", entry("b"));
    outbox.remove("general", "alice", "a");
    assert.deepEqual(ids(outbox.load("general", "alice")), ["b"]);
  }
});

test("a storage that fills up keeps what this tab has in memory, nothing lost", () => {
  const storage = new FakeStorage({ failAfter: 3 }); // the probe, then two saves
  const outbox = new Outbox(storage);
  outbox.add("general", "alice", entry("a"));
  outbox.add("general", "alice", entry("b"));
  outbox.add("general", "alice", entry("c")); // this write throws
  assert.equal(outbox.storageOk, false);
  assert.deepEqual(ids(outbox.load("general", "alice")), ["a", "b", "c"]);
});

test("a retried message goes back before younger ones; each client_id once", () => {
  const order = ["a", "b", "c", "d"];
  assert.deepEqual(queueInOrder(["c", "d"], "a", order), ["a", "c", "d"]);
  assert.deepEqual(queueInOrder(["a", "c"], "b", order), ["a", "b", "c"]);
  assert.deepEqual(queueInOrder(["a", "b"], "b", order), ["a", "b"]);
  assert.deepEqual(queueInOrder([], "d", order), ["d"]);
});

test("the next send is the oldest queued entry still in the outbox", () => {
  const entries = [entry("a"), entry("c")];
  const queue = ["b", "a", "c"];
  assert.equal(nextEntry(queue, entries).client_id, "a"); // b was settled meanwhile
  assert.deepEqual(queue, ["c"]);
  assert.equal(nextEntry(queue, entries).client_id, "c");
  assert.equal(nextEntry(queue, entries), null);
  assert.equal(nextEntry(["x", "y"], entries), null);
});

test("a resend carries the original client_id, and the reply it answers", () => {
  assert.deepEqual(sendFrame("general", entry("a")), {
    type: "message.send",
    room: "general",
    body: "body a",
    client_id: "a",
  });
  assert.equal(sendFrame("general", entry("a", { reply_to: 42 })).reply_to, 42);
  assert.equal("reply_to" in sendFrame("general", entry("a", { reply_to: "42" })), false);
});

test("a thread reply's resend keeps its thread and whether it also goes to the room", () => {
  const frame = sendFrame("general", entry("a", { thread: 7, also_to_room: true }));
  assert.equal(frame.thread, 7);
  assert.equal(frame.also_to_room, true);
  assert.equal(sendFrame("general", entry("a", { thread: 7 })).also_to_room, false);
  const plain = sendFrame("general", entry("a"));
  assert.equal("thread" in plain || "also_to_room" in plain, false);
});

// A clock the test moves by hand.
function clock(start = 1000) {
  const now = { t: start };
  return { now, read: () => now.t };
}

test("sends go at full speed until the server refuses one", () => {
  const { read } = clock();
  const pacing = new SendPacing({ now: read, random: () => 0.5 });
  assert.ok(pacing.wait() <= 0);
  pacing.sent();
  pacing.sent();
  assert.ok(pacing.wait() <= 0);
});

test("rate_limited: hold for retry_after, then space sends by a gap that doubles", () => {
  const { now, read } = clock();
  const pacing = new SendPacing({ now: read, random: () => 0.5 });
  assert.equal(pacing.refused("a", 2), 2000);
  assert.equal(pacing.wait(), 2000);
  assert.equal(pacing.gapMs, 100);
  now.t += 2000;
  assert.equal(pacing.wait(), 0);
  pacing.sent();
  assert.equal(pacing.wait(), 100, "the next send waits the gap");
  pacing.refused("b", 0.05); // a short retry_after: the gap wins when it is longer
  assert.equal(pacing.gapMs, 200);
  assert.equal(pacing.wait(), 200);
  for (let i = 0; i < 10; i += 1) pacing.refused("b", 1);
  assert.equal(pacing.gapMs, SEND_GAP_MAX_MS);
  assert.equal(pacing.refused("b", 3600), 30000, "never held longer than the cap");
  pacing.caughtUp();
  pacing.sent();
  now.t += 30000;
  assert.ok(pacing.wait() <= 0, "caught up: back to full speed");
});

test("a retryable error backs off exponentially with jitter, per message", () => {
  const { now, read } = clock();
  let r = 0;
  const pacing = new SendPacing({ now: read, random: () => r });
  assert.equal(pacing.refused("a", 0), 1000); // 2 s * (0.5 + 0 / 2)
  r = 1;
  assert.equal(pacing.refused("a", 0), 4000); // second retry: 4 s * 1
  r = 0.5;
  assert.equal(pacing.refused("b", 0), 1500, "another message starts again at 2 s");
  assert.equal(pacing.gapMs, 0, "errors do not space the sends");
  assert.equal(pacing.wait(), 4000, "the longest hold wins");
  for (let i = 0; i < 10; i += 1) pacing.refused("a", 0);
  assert.equal(pacing.refused("a", 0), 22500, "capped at 30 s before jitter");
  pacing.forget("a");
  now.t += 60000;
  assert.equal(pacing.refused("a", 0), 1500, "a settled message's retries are forgotten");
});
