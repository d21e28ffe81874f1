// Drafts per room (chat/static/chat/drafts.js): kept per room and user, cleared when
// blank or sent, and still kept in memory when the storage refuses.

import assert from "node:assert/strict";
import { test } from "node:test";

import { DRAFT_MAX_CHARS, DRAFT_PREFIX, Drafts } from "../../chat/static/chat/drafts.js";

class FakeStorage {
  constructor({ refuse = false } = {}) {
    this.items = new Map();
    this.refuse = refuse;
  }
  getItem(key) {
    if (this.refuse) throw new Error("SecurityError");
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    if (this.refuse) throw new Error("QuotaExceededError");
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

test("a draft is kept per room and per user", () => {
  const storage = new FakeStorage();
  const drafts = new Drafts(storage);
  drafts.set("ops", "alice", "half a thought");
  drafts.set("dev", "alice", "another");
  assert.equal(drafts.get("ops", "alice"), "half a thought");
  assert.equal(drafts.get("dev", "alice"), "another");
  assert.equal(drafts.get("ops", "bob"), "");
  assert.equal(storage.getItem(`${DRAFT_PREFIX}alice:ops`), "half a thought");
});

test("a reload reads the drafts back from the storage", () => {
  const storage = new FakeStorage();
  new Drafts(storage).set("ops", "alice", "line one\nline two");
  assert.equal(new Drafts(storage).get("ops", "alice"), "line one\nline two");
});

test("a blank draft or a cleared one is removed", () => {
  const storage = new FakeStorage();
  const drafts = new Drafts(storage);
  drafts.set("ops", "alice", "text");
  drafts.set("ops", "alice", "   \n");
  assert.equal(drafts.get("ops", "alice"), "");
  assert.equal(storage.items.size, 0);
  drafts.set("ops", "alice", "sent soon");
  drafts.clear("ops", "alice");
  assert.equal(new Drafts(storage).get("ops", "alice"), "");
});

test("refused storage keeps drafts in memory; no room, no draft; long text is bounded", () => {
  const drafts = new Drafts(new FakeStorage({ refuse: true }));
  drafts.set("ops", "alice", "kept anyway");
  assert.equal(drafts.get("ops", "alice"), "kept anyway");
  drafts.set("", "alice", "nowhere");
  assert.equal(drafts.get("", "alice"), "");
  drafts.set("ops", "alice", "x".repeat(DRAFT_MAX_CHARS + 10));
  assert.equal(drafts.get("ops", "alice").length, DRAFT_MAX_CHARS);
  assert.equal(new Drafts(null).get("ops", "alice"), "");
});
