// Reconnect delays (chat/static/chat/backoff.js) with the random source injected.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  BACKOFF_CAP_MS,
  RESTART_SPREAD_MAX_MS,
  RESTART_SPREAD_MS,
  fullJitter,
  restartDelay,
  restartSpread,
  tooManyDelay,
} from "../../chat/static/chat/backoff.js";

const always = (value) => () => value;
const almostOne = 1 - Number.EPSILON;

test("the ceiling doubles per attempt from 500 ms and stops at 30 s", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((n) => fullJitter(n, always(almostOne)));
  const rounded = ceilings.map((ms) => Math.round(ms));
  assert.deepEqual(rounded, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.ok(ceilings.every((ms) => ms < BACKOFF_CAP_MS + 1));
});

test("full jitter: the delay is the random share of the ceiling, from zero up", () => {
  assert.equal(fullJitter(3, always(0)), 0);
  assert.equal(fullJitter(3, always(0.25)), 1000);
  assert.equal(fullJitter(3, always(0.5)), 2000);
  assert.equal(fullJitter(10, always(0.5)), 15000);
});

test("each delay draws once from the source it is given", () => {
  const draws = [0.1, 0.9];
  const random = () => draws.shift();
  assert.equal(fullJitter(0, random), 50);
  assert.equal(fullJitter(0, random), 450);
  assert.equal(draws.length, 0);
});

test("after too many attempts the page waits at least 2 s more than the jitter", () => {
  assert.equal(tooManyDelay(0, always(0)), 2000);
  assert.equal(tooManyDelay(2, always(0.5)), 3000);
  assert.equal(Math.round(tooManyDelay(30, always(almostOne))), 32000);
});

test("after a restart pages come back spread over 200 ms to 3.2 s", () => {
  assert.equal(restartDelay(always(0)), 200);
  assert.equal(restartDelay(always(0.5)), 1700);
  assert.equal(Math.round(restartDelay(always(almostOne))), 3200);
});

test("the default source is Math.random, within the bounds", () => {
  for (let i = 0; i < 50; i += 1) {
    const ms = fullJitter(2);
    assert.ok(ms >= 0 && ms < 2000, `${ms} out of [0, 2000)`);
    const spread = restartDelay();
    assert.ok(spread >= 200 && spread < 3200, `${spread} out of [200, 3200)`);
  }
});

test("a restarting server's spread is read from the 1012 reason, within 3-60 s", () => {
  assert.equal(restartSpread(""), RESTART_SPREAD_MS);
  assert.equal(restartSpread(undefined), RESTART_SPREAD_MS);
  assert.equal(restartSpread("spread=12"), 12000);
  assert.equal(restartSpread("spread=7.5"), 7500);
  assert.equal(restartSpread("spread=1"), RESTART_SPREAD_MS); // never tighter than 3 s
  assert.equal(restartSpread("spread=900"), RESTART_SPREAD_MAX_MS);
  assert.equal(restartSpread("nospread=12"), RESTART_SPREAD_MS);
});

test("within a restart each attempt lands at random in the server's window", () => {
  assert.equal(restartDelay(always(0), 12000), 200);
  assert.equal(restartDelay(always(0.5), 12000), 6200);
  assert.equal(Math.round(restartDelay(always(almostOne), 12000)), 12200);
});
