// The sidebar's read-state arithmetic (chat/static/chat/store.js; docs/protocol.md,
// "Read state"): the server's counts as of a seq, plus what arrived after it, minus
// what was read or deleted.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Store } from "../../chat/static/chat/store.js";

const ME = "alice";

function room(fields) {
  return { slug: "general", name: "General", kind: "public", last_seq: 10, last_read_seq: 10, unread: 0, mentions: 0, ...fields };
}

let nextId = 100;
function message(seq, fields = {}) {
  nextId += 1;
  return { id: nextId, seq, kind: "user", author: "bob", mentions: [], group_mention: null, ...fields };
}

function storeWith(...rooms) {
  const store = new Store(ME);
  store.applyHello(rooms);
  return store;
}

const counts = (store, slug = "general") => [store.get(slug).unread(), store.get(slug).mentions()];

test("hello: the server's counts are shown as they are", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 12, unread: 8, mentions: 2 }));
  assert.deepEqual(counts(store), [8, 2]);
});

test("live messages from others after the server's seq add to the counts", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 12, unread: 8, mentions: 2 }));
  store.countMessage("general", message(21));
  store.countMessage("general", message(22, { mentions: ["Alice"] }));
  store.countMessage("general", message(23, { group_mention: "here" }));
  assert.deepEqual(counts(store), [11, 4]);
  assert.equal(store.get("general").lastSeq, 23);
});

test("the user's own messages never count; a system message does, mentions included", () => {
  const store = storeWith(room({}));
  store.countMessage("general", message(11, { author: ME, mentions: [ME] }));
  assert.deepEqual(counts(store), [0, 0]);
  store.countMessage("general", message(12, { kind: "system", author: null, group_mention: "room" }));
  assert.deepEqual(counts(store), [1, 1]);
});

test("a message the server already counted (seq <= its seq) is not counted twice", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 15, unread: 5, mentions: 1 }));
  store.countMessage("general", message(18, { mentions: [ME] }));
  store.countMessage("general", message(20));
  assert.deepEqual(counts(store), [5, 1]);
});

test("reading moves the pointer: what is at or below it stops counting", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 12, unread: 8, mentions: 2 }));
  store.countMessage("general", message(21, { mentions: [ME] }));
  store.countMessage("general", message(22));
  assert.equal(store.markRead("general", 21), true);
  // The base counts were as of seq 20, all now read; only seq 22 is left.
  assert.deepEqual(counts(store), [1, 0]);
  assert.equal(store.markRead("general", 21), false, "the pointer never moves back or stays");
  assert.equal(store.markRead("general", 5), false);
  store.markRead("general", 22);
  assert.deepEqual(counts(store), [0, 0]);
});

test("reading part of the server's range keeps its counts until room.read says more", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 12, unread: 8, mentions: 2 }));
  store.markRead("general", 15);
  assert.deepEqual(counts(store), [8, 2]);
  store.applyRead({ room: "general", last_read_seq: 15, last_seq: 20, unread: 5, mentions: 1 });
  assert.deepEqual(counts(store), [5, 1]);
});

test("room.read replaces the counts and forgets the extras it covers", () => {
  const store = storeWith(room({ last_seq: 20, last_read_seq: 20 }));
  const early = message(21, { mentions: [ME] });
  store.countMessage("general", early);
  store.countMessage("general", message(22));
  store.countMessage("general", message(23, { group_mention: "room" }));
  assert.deepEqual(counts(store), [3, 2]);
  store.applyRead({ room: "general", last_read_seq: 20, last_seq: 22, unread: 2, mentions: 1 });
  assert.deepEqual(counts(store), [3, 2]);
  assert.equal(store.get("general").extras.size, 1);
  store.uncountDeleted("general", early.id); // already inside the server's counts
  assert.deepEqual(counts(store), [3, 2]);
});

test("a deleted message stops counting; an edit can add or remove a mention", () => {
  const store = storeWith(room({}));
  const plain = message(11);
  const named = message(12, { mentions: [ME] });
  store.countMessage("general", plain);
  store.countMessage("general", named);
  assert.deepEqual(counts(store), [2, 1]);
  store.recountUpdated("general", { ...plain, mentions: [ME] });
  assert.deepEqual(counts(store), [2, 2]);
  store.recountUpdated("general", { ...named, mentions: [] });
  assert.deepEqual(counts(store), [2, 1]);
  store.uncountDeleted("general", plain.id);
  assert.deepEqual(counts(store), [1, 0]);
});

test("a room not joined shows no counts; a room dropped by hello is no longer joined", () => {
  const store = storeWith(
    room({ last_seq: 9, last_read_seq: 1, unread: 8, mentions: 1 }),
    room({ slug: "random", name: "Random", last_seq: 5, last_read_seq: 3, unread: 2 })
  );
  assert.equal(store.totalUnread(), 10);
  const dropped = store.applyHello([room({ last_seq: 9, last_read_seq: 1, unread: 8, mentions: 1 })]);
  assert.deepEqual(dropped, ["random"]);
  assert.deepEqual(counts(store, "random"), [0, 0]);
  assert.equal(store.totalUnread(), 8);
});

test("the sidebar lists public, then private, then direct rooms, by name", () => {
  const store = storeWith(
    room({ slug: "dm", name: "dm", kind: "direct", other: { username: "zed" } }),
    room({ slug: "b", name: "beta", kind: "private" }),
    room({ slug: "z", name: "Zulu" }),
    room({ slug: "a", name: "alpha" })
  );
  assert.deepEqual(
    store.joined().map((r) => r.slug),
    ["a", "z", "b", "dm"]
  );
  assert.equal(store.get("dm").label(), "zed");
});

test("frames with nonsense values leave the counts sane", () => {
  const store = storeWith(room({ last_seq: -3, last_read_seq: "x", unread: 2.5, mentions: null }));
  assert.deepEqual(counts(store), [0, 0]);
  store.countMessage("general", { id: 1, seq: "12", author: "bob" });
  store.countMessage("nowhere", message(12));
  assert.deepEqual(counts(store), [0, 0]);
});

test("listeners hear every change", () => {
  const store = new Store(ME);
  let calls = 0;
  store.onChange(() => {
    calls += 1;
  });
  store.applyHello([room({})]);
  store.countMessage("general", message(11));
  store.markRead("general", 11);
  assert.equal(calls, 3);
});
