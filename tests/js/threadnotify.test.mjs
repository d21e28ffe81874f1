// Which thread replies ask for attention (chat/static/chat/notifications.js's
// wantsAttention with a thread): a reply kept in its thread is not one of the room's
// messages, so "all messages" does not cover it; following the thread or a mention does,
// unless the room's level is "nothing" or "replies in threads I follow" is off.

import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {}; // push.js asks the browser what it supports when imported
globalThis.window ??= {};
const { wantsAttention } = await import("../../chat/static/chat/notifications.js");

const ME = "alice";
const room = (notifyLevel) => ({ joined: true, kind: "public", notifyLevel });
const reply = (fields = {}) => ({ kind: "user", author: "bob", thread: 7, also_to_room: false, mentions: [], ...fields });
const followed = { followed: true, replies: true };
const notFollowed = { followed: false, replies: true };

test("a reply in a followed thread asks for attention unless the room says nothing", () => {
  assert.equal(wantsAttention(room("mentions"), reply(), ME, null, Date.now(), followed), true);
  assert.equal(wantsAttention(room("all"), reply(), ME, null, Date.now(), followed), true);
  assert.equal(wantsAttention(room("nothing"), reply(), ME, null, Date.now(), followed), false);
});

test("a reply in a thread not followed: only a mention, whatever the room's level", () => {
  assert.equal(wantsAttention(room("all"), reply(), ME, null, Date.now(), notFollowed), false);
  assert.equal(wantsAttention(room("mentions"), reply({ mentions: [ME] }), ME, null, Date.now(), notFollowed), true);
  assert.equal(wantsAttention(room("nothing"), reply({ mentions: [ME] }), ME, null, Date.now(), notFollowed), false);
});

test("the setting off, do not disturb, or one's own reply: nothing", () => {
  const off = { followed: true, replies: false };
  assert.equal(wantsAttention(room("mentions"), reply(), ME, null, Date.now(), off), false);
  assert.equal(wantsAttention(room("mentions"), reply({ mentions: [ME] }), ME, null, Date.now(), off), true);
  assert.equal(wantsAttention(room("all"), reply(), ME, Date.now() + 60e3, Date.now(), followed), false);
  assert.equal(wantsAttention(room("all"), reply({ author: ME }), ME, null, Date.now(), followed), false);
});

test("a room's own message is judged as before", () => {
  assert.equal(wantsAttention(room("all"), reply({ thread: null }), ME, null), true);
  assert.equal(wantsAttention(room("mentions"), reply({ thread: null }), ME, null), false);
});
