// The message list's grouping and day rules (chat/static/chat/grouping.js). Times are
// built in local time, as the page shows them, so the tests hold in any time zone.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  dayLabel,
  fullTime,
  GROUP_GAP_MS,
  groupInfo,
  msToNextMidnight,
  shortTime,
  startsDay,
  startsGroup,
} from "../../chat/static/chat/grouping.js";

const at = (y, mo, d, h = 12, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime();
const msg = (author, time, system = false) => groupInfo(author, system, time);

test("the first message, another author or a system message starts a group", () => {
  const t = at(2026, 11, 30, 10);
  assert.equal(startsGroup(null, msg("bob", t)), true);
  assert.equal(startsGroup(msg("alice", t), msg("bob", t + 1000)), true);
  assert.equal(startsGroup(msg("bob", t), msg("", t + 1000, true)), true);
  assert.equal(startsGroup(msg("", t, true), msg("bob", t + 1000)), true);
});

test("the same author within five minutes follows; past five minutes starts again", () => {
  const t = at(2026, 11, 30, 10);
  assert.equal(startsGroup(msg("bob", t), msg("bob", t)), false);
  assert.equal(startsGroup(msg("bob", t), msg("bob", t + GROUP_GAP_MS)), false);
  assert.equal(startsGroup(msg("bob", t), msg("bob", t + GROUP_GAP_MS + 1)), true);
});

test("a message older than the one above it (clock skew) shows its author", () => {
  const t = at(2026, 11, 30, 10);
  assert.equal(startsGroup(msg("bob", t), msg("bob", t - 1000)), true);
});

test("midnight splits a group and starts a day, in local time", () => {
  const before = at(2026, 11, 30, 23, 58);
  const after = at(2026, 12, 1, 0, 1);
  assert.equal(startsDay(msg("bob", before), msg("bob", after)), true);
  assert.equal(startsGroup(msg("bob", before), msg("bob", after)), true);
  assert.equal(startsDay(msg("bob", at(2026, 12, 1, 0, 0)), msg("bob", after)), false);
  assert.equal(startsDay(null, msg("bob", after)), true);
});

test("a day separator says Today, Yesterday, then the date (with the year when not this one)", () => {
  const now = at(2026, 12, 6, 9);
  assert.equal(dayLabel(at(2026, 12, 6, 0, 0), now), "Today");
  assert.equal(dayLabel(at(2026, 12, 5, 23, 59), now), "Yesterday");
  assert.equal(dayLabel(at(2026, 11, 30, 8), now, "en-GB"), "Monday, 30 November");
  assert.equal(dayLabel(at(2025, 11, 30, 8), now, "en-GB"), "Sunday, 30 November 2025");
  // Yesterday across a month and a year boundary.
  assert.equal(dayLabel(at(2026, 12, 31, 20), at(2027, 1, 1, 1)), "Yesterday");
});

test("timestamps: a short time in the list, the full date and time on hover and focus", () => {
  const t = at(2026, 11, 30, 14, 5);
  assert.equal(shortTime(t, "en-GB"), "14:05");
  const full = fullTime(t, "en-GB");
  assert.match(full, /Monday/);
  assert.match(full, /30 November 2026/);
  assert.match(full, /14:05/);
});

test("the next midnight is local: the same day's end, and never zero", () => {
  const evening = new Date(2026, 10, 30, 23, 59, 30).getTime(); // 30 November, 23:59:30
  assert.equal(msToNextMidnight(evening), 30_000);
  const midnight = new Date(2026, 11, 1, 0, 0, 0).getTime();
  assert.equal(new Date(midnight + msToNextMidnight(midnight)).getDate(), 2);
  assert.equal(dayLabel(evening, midnight + 1000), "Yesterday"); // what the relabel writes
});
