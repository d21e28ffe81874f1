// Threads' pure rules (chat/static/chat/threadstate.js): routing a live message to the
// room and/or a thread, the newest thread.state by last_seq, which summary of a root to
// keep, and the summary's words.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  cleanSummary,
  lastReplyText,
  pickSummary,
  repliesText,
  routeOf,
  summaryLabel,
  ThreadStates,
} from "../../chat/static/chat/threadstate.js";

test("a top-level message goes to the room only", () => {
  assert.deepEqual(routeOf({ id: 1, seq: 1, thread: null, also_to_room: false }), { room: true, thread: null });
  assert.deepEqual(routeOf({ id: 1, seq: 1 }), { room: true, thread: null }); // an older server
});

test("a reply goes to its thread only, or to both when sent also to the room", () => {
  assert.deepEqual(routeOf({ id: 2, seq: 2, thread: 1, also_to_room: false }), { room: false, thread: 1 });
  assert.deepEqual(routeOf({ id: 3, seq: 3, thread: 1, also_to_room: true }), { room: true, thread: 1 });
});

function state(fields) {
  return { type: "thread.state", room: "lobby", root: 7, following: true, last_read_seq: 10, unread: 2, mentions: 0, last_seq: 12, ...fields };
}

test("thread.state: the highest last_seq wins, an older one arriving late is dropped", () => {
  const states = new ThreadStates();
  assert.equal(states.apply(state({ last_seq: 20, unread: 3 })), true);
  assert.equal(states.apply(state({ last_seq: 15, unread: 1 })), false);
  assert.equal(states.get("lobby", 7).unread, 3);
  assert.equal(states.get("lobby", 7).lastSeq, 20);
});

test("thread.state: of equal last_seq the later frame wins (a read, an unfollow)", () => {
  const states = new ThreadStates();
  states.apply(state({ last_seq: 20, unread: 3 }));
  assert.equal(states.apply(state({ last_seq: 20, unread: 0, last_read_seq: 20, following: false })), true);
  const held = states.get("lobby", 7);
  assert.deepEqual([held.unread, held.following, held.lastReadSeq], [0, false, 20]);
});

test("thread.state of another thread or room is kept apart", () => {
  const states = new ThreadStates();
  states.apply(state({ last_seq: 20 }));
  states.apply(state({ root: 8, last_seq: 5, unread: 1 }));
  states.apply(state({ room: "ops", last_seq: 1, unread: 4 }));
  assert.equal(states.get("lobby", 7).unread, 2);
  assert.equal(states.get("lobby", 8).unread, 1);
  assert.equal(states.get("ops", 7).unread, 4);
  assert.equal(states.get("ops", 9), null);
});

test("reading: thread.read only when the pointer moves, and a late state does not move it back", () => {
  const states = new ThreadStates();
  states.apply(state({ last_seq: 30, last_read_seq: 10, unread: 5 }));
  assert.equal(states.markRead("lobby", 7, 25), 25);
  assert.equal(states.markRead("lobby", 7, 20), null);
  assert.equal(states.markRead("lobby", 7, 25), null);
  states.apply(state({ last_seq: 31, last_read_seq: 10, unread: 6 })); // a reply, before our read arrived
  assert.equal(states.get("lobby", 7).lastReadSeq, 25);
  assert.equal(states.markRead("lobby", 7, 25), null);
  // A thread never seen: the first read is sent.
  assert.equal(states.markRead("ops", 3, 4), 4);
});

test("totals: from hello or the last thread.state, whatever they were", () => {
  const states = new ThreadStates();
  assert.equal(states.setTotals({ unread_threads: 3, mentions: 1 }), true);
  assert.equal(states.setTotals({ unread_threads: 3, mentions: 1 }), false);
  assert.deepEqual(states.totals, { unreadThreads: 3, mentions: 1 });
  states.setTotals({ unread_threads: 0, mentions: 0 });
  assert.deepEqual(states.totals, { unreadThreads: 0, mentions: 0 });
  assert.equal(states.setTotals(undefined), false);
});

test("summaries: a live thread.updated always wins; a message's wins only if not older", () => {
  const held = cleanSummary({ replies: 4, last_reply_at: "2026-12-06T10:00:00Z", participants: ["bob"], last_seq: 40 });
  const older = cleanSummary({ replies: 3, last_reply_at: "2026-12-06T09:00:00Z", participants: ["bob"], last_seq: 30 });
  const deleted = cleanSummary({ replies: 3, last_reply_at: "2026-12-06T09:00:00Z", participants: ["bob"], last_seq: 30 });
  assert.equal(pickSummary(held, older, false), held); // a page read before the last reply
  assert.equal(pickSummary(held, deleted, true), deleted); // the newest reply was deleted
  assert.equal(pickSummary(null, older, false), older);
  assert.equal(pickSummary(held, null, false), held);
});

test("summary words", () => {
  assert.equal(repliesText(1), "1 reply");
  assert.equal(repliesText(0), "0 replies");
  assert.equal(repliesText(12), "12 replies");
  const now = new Date(2026, 11, 6, 15, 0).getTime();
  const today = new Date(2026, 11, 6, 9, 5).getTime();
  const yesterday = new Date(2026, 11, 5, 23, 59).getTime();
  const longAgo = new Date(2025, 2, 1, 8, 0).getTime();
  assert.match(lastReplyText(today, now, "en-GB"), /^Last reply today at 0?9:05$/);
  assert.match(lastReplyText(yesterday, now, "en-GB"), /^Last reply yesterday at 23:59$/);
  assert.match(lastReplyText(longAgo, now, "en-GB"), /^Last reply on 1 Mar 2025$/);
  assert.equal(lastReplyText(NaN, now), "");
  const summary = cleanSummary({ replies: 2, last_reply_at: new Date(today).toISOString(), participants: ["carol", "bob", "al"], last_seq: 9 });
  assert.match(summaryLabel(summary, now), /^2 replies, last reply today at .+, from carol, bob and al: open the thread$/);
});

test("a summary is cleaned: at most five participants, names only", () => {
  const summary = cleanSummary({ replies: 9, last_reply_at: "x", participants: ["a", 3, "", "b", "c", "d", "e", "f"], last_seq: 2 });
  assert.deepEqual(summary.participants, ["a", "b", "c", "d", "e"]);
  assert.equal(cleanSummary(null), null);
  assert.equal(cleanSummary({ replies: -1 }).replies, 0);
});
