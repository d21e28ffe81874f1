// The composer's answer to a refused send (chat/static/chat/composer.js): a retryable
// error (`unavailable` while the database restarts, `internal_error`) keeps the message
// in the outbox and resends it with the same client_id once the hold ends; any other
// error fails it. No DOM and no socket: the page, the connection and the clock are fakes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ErrorCode, RETRYABLE_ERRORS } from "../../chat/static/chat/codes.js";
import { Composer } from "../../chat/static/chat/composer.js";
import { SendPacing } from "../../chat/static/chat/outbox.js";

// The composer listens for pastes on the document: a stub that takes listeners will do.
globalThis.document ??= { addEventListener() {} };

const element = () => ({ value: "", addEventListener() {}, querySelector: () => null });

// A socket that is open and records what is sent; a send stays in flight until answered.
class FakeConn {
  constructor() {
    this.sent = [];
    this.inflight = [];
  }
  isOpen() {
    return true;
  }
  send(frame, tag) {
    this.sent.push(frame);
    if (tag) this.inflight.push(tag);
    return true;
  }
  hasInflight(match) {
    return this.inflight.some(match);
  }
  answer(tag) {
    this.inflight = this.inflight.filter((t) => t !== tag);
  }
}

function composerFor() {
  const failed = [];
  const conn = new FakeConn();
  const lines = { showPending() {}, markFailed: (clientId, detail) => failed.push([clientId, detail]) };
  const page = {
    conn,
    username: () => "ann",
    current: () => "lobby",
    timeline: () => lines,
    canWrite: () => true,
    showError() {},
  };
  const composer = new Composer(page, {
    form: element(),
    input: element(),
    attach: element(),
    fileInput: element(),
    dropZone: element(),
    emoji: null,
  });
  const clock = { t: 0 };
  composer.pacing = new SendPacing({ now: () => clock.t, random: () => 1 });
  return { composer, conn, failed, clock };
}

function sendOne(composer, clientId) {
  composer.outbox.add("lobby", "ann", { client_id: clientId, body: "hello", created_at: "2024-01-01T00:00:00Z" });
  composer.queue("lobby", clientId);
}

test("unavailable is a retryable code in the generated registry", () => {
  assert.ok(RETRYABLE_ERRORS.has(ErrorCode.UNAVAILABLE));
  assert.ok(RETRYABLE_ERRORS.has(ErrorCode.INTERNAL_ERROR));
});

test("a send refused unavailable stays in the outbox and is resent with its client_id", () => {
  const { composer, conn, failed, clock } = composerFor();
  sendOne(composer, "c1");
  assert.deepEqual(conn.sent.map((f) => f.client_id), ["c1"]);

  const tag = conn.inflight[0];
  conn.answer(tag);
  composer.onSendError(tag, { type: "error", code: ErrorCode.UNAVAILABLE, client_id: "c1" }, "down");
  assert.deepEqual(failed, [], "not failed");
  assert.deepEqual(composer.outbox.load("lobby", "ann").map((e) => e.client_id), ["c1"], "kept");
  assert.equal(conn.sent.length, 1, "held, not resent at once");

  clock.t += 2000; // past the first hold (2 s with this jitter)
  composer.pump();
  assert.deepEqual(conn.sent.map((f) => [f.type, f.client_id, f.body]), [
    ["message.send", "c1", "hello"],
    ["message.send", "c1", "hello"],
  ]);

  // Refused again (the database still away): held longer, then sent again, still c1.
  const again = conn.inflight[0];
  conn.answer(again);
  composer.onSendError(again, { type: "error", code: ErrorCode.UNAVAILABLE, client_id: "c1" }, "down");
  clock.t += 2000;
  composer.pump();
  assert.equal(conn.sent.length, 2, "the second hold is longer (4 s)");
  clock.t += 2000;
  composer.pump();
  assert.deepEqual(conn.sent.map((f) => f.client_id), ["c1", "c1", "c1"]);

  composer.settled("lobby", "c1"); // its ack
  assert.deepEqual(composer.outbox.load("lobby", "ann"), []);
  clearTimeout(composer.timer);
});

test("a send refused for good leaves the outbox as failed", () => {
  const { composer, conn, failed } = composerFor();
  sendOne(composer, "c2");
  const tag = conn.inflight[0];
  conn.answer(tag);
  composer.onSendError(tag, { type: "error", code: ErrorCode.BODY_TOO_LONG, client_id: "c2" }, "too long");
  assert.deepEqual(failed, [["c2", "too long"]]);
  assert.deepEqual(composer.outbox.load("lobby", "ann"), []);
  clearTimeout(composer.timer);
});
