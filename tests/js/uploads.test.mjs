// The upload request's pure parts (chat/static/chat/uploads.js), shared by the room's
// composer and the thread panel's: the form (a reply in a thread names its root and
// whether it also goes to the room), the size check before sending, and the error text.

import assert from "node:assert/strict";
import { test } from "node:test";

import { tooLargeText, uploadErrorText, uploadForm } from "../../chat/static/chat/uploads.js";

const file = (name, text = "hello") => new File([text], name, { type: "text/plain" });

test("a room's upload sends the file and its client_id, nothing about threads", () => {
  const form = uploadForm(file("notes.txt"), "c-1");
  assert.equal(form.get("file").name, "notes.txt");
  assert.equal(form.get("client_id"), "c-1");
  assert.equal(form.has("thread"), false);
  assert.equal(form.has("also_to_room"), false);
});

test("a reply in a thread names its root and whether it also goes to the room", () => {
  const kept = uploadForm(file("a.txt"), "c-2", 42);
  assert.deepEqual([kept.get("thread"), kept.get("also_to_room")], ["42", "false"]);
  const shown = uploadForm(file("a.txt"), "c-3", 42, true);
  assert.deepEqual([shown.get("thread"), shown.get("also_to_room")], ["42", "true"]);
  // also_to_room means nothing without a thread: not sent.
  assert.equal(uploadForm(file("a.txt"), "c-4", null, true).has("also_to_room"), false);
});

test("a pasted file without a name gets one", () => {
  assert.equal(uploadForm(new Blob(["x"]), "c-5").get("file").name, "pasted-file");
});

test("a file over the limit is refused before sending, in MB", () => {
  assert.equal(tooLargeText(10, 25 * 1048576), "");
  assert.equal(tooLargeText(25 * 1048576, 25 * 1048576), "");
  assert.equal(tooLargeText(25 * 1048576 + 1, 25 * 1048576), "That file is too large (at most 25 MB).");
  assert.equal(tooLargeText(10 ** 12, 0), ""); // no limit known: the server decides
});

test("a refused upload says the server's detail, else the status", () => {
  const refused = { error: { code: "bad_thread", detail: "You can reply in a thread only to …" } };
  assert.equal(uploadErrorText(400, refused), "You can reply in a thread only to …");
  assert.equal(uploadErrorText(502, null), "Upload failed (502).");
  assert.equal(uploadErrorText(413, { error: { detail: 7 } }), "Upload failed (413).");
});
