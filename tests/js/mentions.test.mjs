// The one mention predicate (chat/static/chat/mentions.js) that the sidebar badge, the
// message highlight and notifications share.

import assert from "node:assert/strict";
import { test } from "node:test";

import { isMention } from "../../chat/static/chat/mentions.js";

const user = (fields) => ({ kind: "user", author: "bob", mentions: [], group_mention: null, ...fields });
const system = (fields) => ({ kind: "system", author: null, mentions: [], group_mention: null, ...fields });

test("a message naming the user mentions them, whatever the case", () => {
  assert.equal(isMention(user({ mentions: ["Alice"] }), "alice"), true);
  assert.equal(isMention(user({ mentions: ["carol", "alice"] }), "ALICE"), true);
});

test("a message naming someone else does not", () => {
  assert.equal(isMention(user({ mentions: ["carol"] }), "alice"), false);
  assert.equal(isMention(user({ mentions: ["alice2"] }), "alice"), false);
  assert.equal(isMention(user({}), "alice"), false);
});

test("@room and @here mention everyone who receives them", () => {
  assert.equal(isMention(user({ group_mention: "room" }), "alice"), true);
  assert.equal(isMention(user({ group_mention: "here" }), "alice"), true);
  assert.equal(isMention(user({ group_mention: "everyone" }), "alice"), false);
});

test("system messages count like any other, as the server counts them", () => {
  assert.equal(isMention(system({ mentions: ["alice"] }), "alice"), true);
  assert.equal(isMention(system({ group_mention: "room" }), "alice"), true);
  assert.equal(isMention(system({ group_mention: "here" }), "alice"), true);
  // A plain announcement is not a mention (the old highlight rule said true for any
  // system message whose group_mention was "", a value the wire never carries).
  assert.equal(isMention(system({}), "alice"), false);
  assert.equal(isMention(system({ group_mention: "" }), "alice"), false);
});

test("malformed frames and a missing user are never mentions", () => {
  assert.equal(isMention(null, "alice"), false);
  assert.equal(isMention(undefined, "alice"), false);
  assert.equal(isMention(user({ mentions: ["alice"] }), ""), false);
  assert.equal(isMention(user({ group_mention: "room" }), null), false);
  assert.equal(isMention(user({ mentions: "alice" }), "alice"), false);
  assert.equal(isMention(user({ mentions: [null, 7, { name: "alice" }] }), "alice"), false);
});
