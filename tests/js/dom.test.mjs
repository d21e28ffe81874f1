// The page's list keys (chat/static/chat/dom.js's arrowStep): Up and Down move through a
// list's options and wrap around; other keys and empty lists move nothing.

import assert from "node:assert/strict";
import { test } from "node:test";

import { arrowStep } from "../../chat/static/chat/dom.js";

test("Down and Up move by one and wrap at both ends", () => {
  assert.equal(arrowStep("ArrowDown", 0, 3), 1);
  assert.equal(arrowStep("ArrowDown", 2, 3), 0);
  assert.equal(arrowStep("ArrowUp", 0, 3), 2);
  assert.equal(arrowStep("ArrowUp", 2, 3), 1);
});

test("nothing to move to: other keys and empty lists", () => {
  assert.equal(arrowStep("Enter", 1, 3), null);
  assert.equal(arrowStep("ArrowDown", -1, 0), null);
});
