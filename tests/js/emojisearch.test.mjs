// The emoji picker's and the `:` completion's rules (chat/static/chat/emojisearch.js) on
// the generated table (emojidata.js): ranking by name, the token before the caret, the
// recently used list, and the reaction subset.

import assert from "node:assert/strict";
import { test } from "node:test";

import { COMMON, EMOJI, REACTIONS } from "../../chat/static/chat/emojidata.js";
import {
  bestName,
  completionAt,
  emojiKey,
  reactionEntries,
  readTable,
  RECENT_MAX,
  recentAfter,
  searchEmoji,
} from "../../chat/static/chat/emojisearch.js";

const table = readTable(EMOJI);

test("the table reads as entries with their names", () => {
  assert.ok(table.length > 1500);
  const tada = table.find((e) => e.char === "🎉");
  assert.deepEqual(tada.names, ["party_popper", "tada"]);
  assert.deepEqual(readTable([["x"], [1, "a"], ["😀", "grinning"]]), [{ char: "😀", names: ["grinning"] }]);
});

test("a name starting with the query comes first, an exact name before all", () => {
  assert.equal(searchEmoji(table, "tada")[0].char, "🎉");
  assert.equal(searchEmoji(table, ":tada:")[0].char, "🎉");
  assert.equal(searchEmoji(table, "+1")[0].char, "👍");
  assert.equal(searchEmoji(table, "thumbsup")[0].char, "👍");
  assert.equal(searchEmoji(table, "smile")[0].char, "😄");
  const hearts = searchEmoji(table, "heart", 5);
  assert.equal(hearts.length, 5);
  assert.ok(hearts.every((e) => e.names.some((n) => n.toLowerCase().includes("heart"))));
});

test("a word inside a name matches before a name merely holding the letters", () => {
  const found = searchEmoji(table, "popper");
  assert.equal(found[0].char, "🎉");
  assert.deepEqual(searchEmoji(table, "no such emoji name"), []);
  assert.equal(searchEmoji(table, "party popper")[0].char, "🎉"); // spaces read as _
});

test("an empty query keeps the table's order (the reaction set leads)", () => {
  assert.deepEqual(
    searchEmoji(table, "", 3).map((e) => e.char),
    table.slice(0, 3).map((e) => e.char)
  );
  assert.equal(table[0].char, REACTIONS[0]);
});

test("bestName shows the name that matched", () => {
  const tada = table.find((e) => e.char === "🎉");
  assert.equal(bestName(tada, "ta"), "tada");
  assert.equal(bestName(tada, "pa"), "party_popper");
  assert.equal(bestName(tada, "zz"), "party_popper");
});

test("completion starts after two characters of a :name, not inside words or times", () => {
  assert.deepEqual(completionAt(":ta"), { start: 0, prefix: "ta" });
  assert.deepEqual(completionAt("ship it :tad"), { start: 8, prefix: "tad" });
  assert.deepEqual(completionAt("ok (:+1"), { start: 4, prefix: "+1" });
  assert.equal(completionAt(":t"), null);
  assert.equal(completionAt("at 12:30"), null);
  assert.equal(completionAt("http://x"), null);
  assert.equal(completionAt("done :tada:"), null); // closed: the server renders it
  assert.equal(completionAt("a :ta b"), null);
});

test("the recently used list puts the last used first, once, bounded", () => {
  assert.deepEqual(recentAfter([], "🎉"), ["🎉"]);
  assert.deepEqual(recentAfter(["👍", "🎉", "❤️"], "🎉"), ["🎉", "👍", "❤️"]);
  assert.deepEqual(recentAfter(["❤"], "❤️"), ["❤️"]); // one emoji with or without U+FE0F
  assert.deepEqual(recentAfter(null, "🎉"), ["🎉"]);
  const full = Array.from({ length: RECENT_MAX }, (_, i) => String(i));
  const after = recentAfter(full, "🎉");
  assert.equal(after.length, RECENT_MAX);
  assert.equal(after[0], "🎉");
});

test("the reaction picker offers exactly the server's set, spelled as the server spells it", () => {
  const offered = reactionEntries(table, REACTIONS);
  assert.deepEqual(new Set(offered.map((e) => e.char)), new Set(REACTIONS));
  assert.ok(COMMON.every((c) => REACTIONS.includes(c)));
  assert.equal(emojiKey("❤️"), "❤");
});
