// The pure parts of the people features: matching people by username and display name
// (chat/static/chat/peoplesearch.js: the DM picker), local time in a zone (profile
// cards, the directory), and the sidebar's "unread first" order (sidebar.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { fold, localTime, matchPeople, matchRank } from "../../chat/static/chat/peoplesearch.js";
import { orderRooms } from "../../chat/static/chat/sidebar.js";
import { Store } from "../../chat/static/chat/store.js";

const people = [
  { username: "alice", displayName: "Alice Liddell" },
  { username: "bob", displayName: "Robert Zimmer" },
  { username: "carol", displayName: "Carol Bobbins" },
  { username: "bobby_t", displayName: "bobby_t" },
  { username: "zoe", displayName: "Zoë Ångström" },
];
const names = (list) => list.map((person) => person.username);

test("the exact username first, then names starting with the text, then containing it", () => {
  assert.deepEqual(names(matchPeople(people, "bob")), ["bob", "bobby_t", "carol"]);
  assert.equal(matchRank(people[1], "BOB"), 0);
  assert.equal(matchRank(people[2], "bob"), 1); // a word of the display name
  assert.equal(matchRank(people[0], "dell"), 2);
  assert.equal(matchRank(people[0], "xyz"), -1);
});

test("matching ignores case and accents, on usernames and display names", () => {
  assert.deepEqual(names(matchPeople(people, "zoe")), ["zoe"]);
  assert.deepEqual(names(matchPeople(people, "angstrom")), ["zoe"]);
  assert.deepEqual(names(matchPeople(people, "ZIMMER")), ["bob"]);
  assert.equal(fold("Zoë"), "zoe");
});

test("an empty query lists everyone by the name shown; the limit holds; duplicates go", () => {
  assert.deepEqual(names(matchPeople(people, "  ")), ["alice", "bobby_t", "carol", "bob", "zoe"]);
  assert.equal(matchPeople(people, "", 2).length, 2);
  assert.deepEqual(names(matchPeople([...people, { username: "bob", displayName: "Again" }], "bob")), [
    "bob",
    "bobby_t",
    "carol",
  ]);
  assert.deepEqual(names(matchPeople([null, { display_name: "no username" }, ...people.slice(0, 1)], "")), ["alice"]);
});

test("the API's field name (display_name) matches too", () => {
  assert.equal(matchRank({ username: "x1", display_name: "Xavier Plum" }, "plum"), 1);
});

test("local time in a zone, 24-hour; nothing for none or an unknown zone", () => {
  const noonUtc = new Date(Date.UTC(2026, 0, 15, 12, 5));
  assert.equal(localTime("Asia/Tokyo", noonUtc), "21:05");
  assert.equal(localTime("America/New_York", noonUtc), "07:05");
  assert.equal(localTime("", noonUtc), "");
  assert.equal(localTime("Not/AZone", noonUtc), "");
});

function sidebarRooms() {
  const store = new Store("alice");
  const entry = (slug, unread, mentions) => ({ slug, name: slug, kind: "public", last_seq: 10, last_read_seq: unread ? 5 : 10, unread, mentions });
  store.applyHello([entry("a-quiet", 0, 0), entry("b-unread", 3, 0), entry("c-quiet", 0, 0), entry("d-mention", 2, 1), entry("e-unread", 1, 0)]);
  return store.joined();
}

test("sidebar order: by name, or unread first (mentions, then unread, each kept in order)", () => {
  const rooms = sidebarRooms();
  const slugs = (list) => list.map((room) => room.slug);
  assert.deepEqual(slugs(orderRooms(rooms, false)), ["a-quiet", "b-unread", "c-quiet", "d-mention", "e-unread"]);
  assert.deepEqual(slugs(orderRooms(rooms, true)), ["d-mention", "b-unread", "e-unread", "a-quiet", "c-quiet"]);
  assert.notEqual(orderRooms(rooms, false), rooms); // a copy: the store's list is not reordered
});
