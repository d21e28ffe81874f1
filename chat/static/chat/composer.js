// Writing: the outbox (localStorage, one list per room and user, written through on every
// change so a user's tabs share it), sends one at a time per room in the order written
// (docs/protocol.md, "Order of one user's messages"), spacing after rate_limited, typing
// frames, and files (images among them) posted over HTTP (uploads.js's, for the thread
// panel too). It renders through the room's Timeline; the outbox's storage, order and
// pacing rules are outbox.js's.

import { ErrorCode, RETRYABLE_ERRORS } from "./codes.js";
import { commandFrame, commandNames, parseLine } from "./commands.js";
import { newClientId } from "./dom.js";
import { Drafts } from "./drafts.js";
import { emojiPicker } from "./emojipicker.js";
import { browserStorage, nextEntry, Outbox, queueInOrder, SendPacing, sendFrame } from "./outbox.js";
import { uploadFile, wireFileSources } from "./uploads.js";

const TYPING_SEND_EVERY_MS = 2000; // a typing frame at most this often per room

export class Composer {
  // page: conn, store, current() -> slug, timeline(slug) -> Timeline | undefined (only
  // rooms that are shown or held), canWrite(slug) -> bool, showError(text), username(),
  // threadTimeline(slug, root) -> the thread panel's Timeline when it shows that thread.
  // A thread's replies share their room's outbox (and its order); their lines are drawn
  // in the panel, never in the room's list.
  constructor(page, elements) {
    this.page = page;
    this.form = elements.form;
    this.input = elements.input;
    this.attachButton = elements.attach;
    this.fileInput = elements.fileInput;
    this.dropZone = elements.dropZone;
    this.maxFileBytes = elements.maxFileBytes;
    this.emojiButton = elements.emoji;
    this.drafts = new Drafts(browserStorage()); // per room and user, kept until sent
    this.draftSlug = null; // the room whose draft the input shows
    this.outbox = new Outbox(browserStorage());
    this.queues = new Map(); // slug -> client_ids waiting to go on this socket, in order
    this.pacing = new SendPacing(); // after rate_limited or internal_error: hold, then space
    this.timer = null;
    this.typingSentAt = new Map(); // slug -> performance.now() of the last typing frame
    this.commands = []; // hello.commands: the slash commands the composer recognises
    this.listen();
  }

  username() {
    return this.page.username();
  }

  // Where an outbox entry's line is drawn: the room's list, or the thread panel.
  linesFor(slug, entry) {
    if (!Number.isInteger(entry.thread)) return this.page.timeline(slug);
    return this.page.threadTimeline ? this.page.threadTimeline(slug, entry.thread) : null;
  }

  // The room's outbox entries (or one thread's), shown as pending where they belong.
  restore(slug, thread = null) {
    for (const entry of this.outbox.load(slug, this.username())) {
      if ((Number.isInteger(entry.thread) ? entry.thread : null) !== thread) continue;
      const lines = this.linesFor(slug, entry);
      if (lines) lines.showPending(entry);
    }
  }

  settled(slug, clientId) {
    this.outbox.remove(slug, this.username(), clientId);
    this.pacing.forget(clientId);
  }

  // After every hello: resend each joined room's whole outbox, oldest first and one at a
  // time, with the original client_ids (the server returns the saved message for any it
  // already has). Entries of rooms not joined wait, shown as pending, until they are.
  onHello(slugs) {
    this.queues.clear();
    for (const slug of slugs) {
      const pending = this.outbox.load(slug, this.username());
      if (!pending.length) continue;
      pending.forEach((entry) => this.linesFor(slug, entry)?.showPending(entry));
      this.queues.set(
        slug,
        pending.map((e) => e.client_id)
      );
    }
    this.pump();
  }

  onDown() {
    this.queues.clear(); // rebuilt from the outbox by the next hello
    clearTimeout(this.timer);
  }

  pump() {
    clearTimeout(this.timer);
    this.timer = null;
    const conn = this.page.conn;
    if (!conn.isOpen()) return;
    let waiting = false;
    for (const [slug, queue] of this.queues) {
      if (!queue.length) {
        this.queues.delete(slug);
        continue;
      }
      if (conn.hasInflight((t) => t.kind === "send" && t.room === slug)) {
        waiting = true;
        continue;
      }
      const wait = this.pacing.wait();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      const entry = nextEntry(queue, this.outbox.load(slug, this.username()));
      if (!entry) continue;
      const tag = { kind: "send", room: slug, clientId: entry.client_id };
      if (!conn.send(sendFrame(slug, entry), tag)) return;
      this.pacing.sent();
      waiting = true;
    }
    if (!waiting && !this.queues.size) this.pacing.caughtUp();
  }

  // Queue a send in outbox order (a retried one goes back before younger ones).
  queue(slug, clientId) {
    const order = this.outbox.load(slug, this.username()).map((e) => e.client_id);
    this.queues.set(slug, queueInOrder(this.queues.get(slug) || [], clientId, order));
    this.pump();
  }

  // An error answering a message.send.
  onSendError(tag, frame, detail) {
    const slug = tag.room || frame.room;
    // Retryable errors are worth retrying on the same connection; any other means the
    // message will never be accepted as it is, so it leaves the outbox as failed.
    if (frame.code === ErrorCode.RATE_LIMITED) {
      this.retryLater(slug, tag.clientId, Number(frame.retry_after) || 1);
    } else if (RETRYABLE_ERRORS.has(frame.code)) {
      this.retryLater(slug, tag.clientId, 0);
    } else {
      this.fail(slug, tag.clientId, detail);
      this.pump();
    }
  }

  fail(slug, clientId, detail) {
    if (!slug) return;
    const entry = this.outbox.load(slug, this.username()).find((e) => e.client_id === clientId);
    this.outbox.remove(slug, this.username(), clientId);
    this.pacing.forget(clientId);
    const lines = entry ? this.linesFor(slug, entry) : this.page.timeline(slug);
    if (lines) lines.markFailed(clientId, detail);
  }

  // The room can no longer be written to: its outbox fails.
  failAll(slug, detail) {
    this.queues.delete(slug);
    for (const entry of this.outbox.load(slug, this.username())) this.fail(slug, entry.client_id, detail);
  }

  // Hold every send for a while and then try this one again, still first in line.
  retryLater(slug, clientId, after) {
    this.pacing.refused(clientId, after);
    this.queue(slug, clientId);
  }

  setCommands(commands) {
    this.commands = Array.isArray(commands) ? commands : [];
  }

  // A listed `/name args` runs the command (never queued in the outbox: a command is not
  // idempotent, so it is sent only on an open socket; untagged, as its answer is an
  // ephemeral line or a broadcast); `//` sends a line starting with "/".
  submit() {
    const slug = this.page.current();
    if (!slug || !this.input.value.trim() || !this.page.canWrite(slug)) return;
    this.page.showError("");
    const parsed = parseLine(this.input.value, commandNames(this.commands));
    if (parsed.command) {
      if (!this.page.conn.send(commandFrame(slug, parsed))) {
        this.page.showError("Not connected: the command was not run. Try again once connected.");
        return;
      }
      this.input.value = "";
      this.drafts.clear(slug, this.username());
      return;
    }
    const body = parsed.body;
    const entry = { client_id: newClientId(), body, created_at: new Date().toISOString() };
    const replyTo = this.page.replyTo ? this.page.replyTo(slug) : null; // kept in the outbox
    if (Number.isInteger(replyTo)) entry.reply_to = replyTo;
    this.outbox.add(slug, this.username(), entry); // persisted before anything goes out
    const timeline = this.page.timeline(slug);
    if (timeline) {
      timeline.showPending(entry);
      timeline.scrollToBottom();
    }
    this.input.value = "";
    this.drafts.clear(slug, this.username());
    this.queue(slug, entry.client_id);
  }

  // A reply written in the thread panel (threadcomposer.js): kept in the room's outbox
  // first, drawn pending in the panel, then sent in the room's order.
  sendInThread(slug, entry) {
    this.outbox.add(slug, this.username(), entry);
    this.linesFor(slug, entry)?.showPending(entry);
    this.queue(slug, entry.client_id);
  }

  // Announce typing while the input has text: at most every TYPING_SEND_EVERY_MS per room
  // (and thread), only on an open socket, never queued (typing is not answered).
  typed(thread = null, text = this.input.value) {
    const slug = this.page.current();
    if (!slug || !text.trim() || !this.page.canWrite(slug)) return;
    const now = performance.now();
    const key = thread === null ? slug : `${slug}#${thread}`;
    if (now - (this.typingSentAt.get(key) ?? -Infinity) < TYPING_SEND_EVERY_MS) return;
    const frame = thread === null ? { type: "typing", room: slug } : { type: "typing", room: slug, thread };
    if (this.page.conn.send(frame)) this.typingSentAt.set(key, now);
  }

  // --- files -----------------------------------------------------------------------------
  // Any file, posted over HTTP with the session (and its CSRF token) to /files/ (images
  // that decode become image messages there), by uploads.js. `where` is for the thread
  // panel's: thread, alsoToRoom, lines() (its list) and showError (its error line).

  csrfToken() {
    const field = this.form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  upload(slug, file, where = {}) {
    if (!this.page.canWrite(slug)) return Promise.resolve(null);
    return uploadFile(slug, file, {
      csrf: this.csrfToken(),
      maxBytes: this.maxFileBytes,
      lines: where.lines ?? (() => this.page.timeline(slug)),
      showError: where.showError ?? ((text) => this.page.showError(text)),
      thread: where.thread ?? null,
      alsoToRoom: where.alsoToRoom === true,
    });
  }

  uploadAll(files) {
    const slug = this.page.current();
    Array.from(files || [])
      .filter((file) => file)
      .forEach((file) => this.upload(slug, file));
  }

  // The room shown may have changed (RoomView renders on every switch): the input keeps
  // the draft of the room left and shows the draft of the room opened.
  showRoom() {
    const slug = this.page.current();
    if (slug === this.draftSlug) return;
    if (this.draftSlug) this.drafts.set(this.draftSlug, this.username(), this.input.value);
    this.draftSlug = slug;
    this.input.value = slug ? this.drafts.get(slug, this.username()) : "";
  }

  // Up in an empty composer: edit this user's last message in the room shown (the
  // room's Edits, through startEditing). False when there is none on screen. Once the
  // editor closes (Enter saved, Escape cancelled) typing goes on in the composer.
  editLast() {
    const timeline = this.page.timeline(this.page.current());
    if (!timeline || !timeline.edits || typeof timeline.edits.startEditing !== "function") return false;
    const own = timeline.list.querySelectorAll("li.message.own[data-id]:not(.pending):not(.failed)");
    for (let i = own.length - 1; i >= 0; i -= 1) {
      if (!timeline.edits.startEditing(Number(own[i].dataset.id))) continue;
      const editor = own[i].querySelector("textarea.editor");
      if (editor) {
        editor.addEventListener("keydown", (event) => {
          if (event.key !== "Escape" && (event.key !== "Enter" || event.shiftKey)) return;
          setTimeout(() => {
            if (!editor.isConnected && !this.input.disabled) this.input.focus();
          }, 0);
        });
      }
      return true;
    }
    return false;
  }

  // The composer's emoji button: the picker (any emoji), its pick put at the caret.
  openEmoji() {
    emojiPicker().open({
      anchor: this.emojiButton,
      mode: "all",
      label: "Insert an emoji",
      returnFocus: this.input,
      onPick: (emoji) => {
        const start = this.input.selectionStart ?? this.input.value.length;
        const end = this.input.selectionEnd ?? start;
        this.input.setRangeText(emoji, start, end, "end");
        this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft follows
      },
    });
  }

  setEnabled(enabled, placeholder) {
    this.showRoom();
    this.input.disabled = !enabled;
    this.form.querySelector("button[type=submit]").disabled = !enabled;
    this.attachButton.disabled = !enabled;
    if (this.emojiButton) this.emojiButton.disabled = !enabled;
    this.input.placeholder = placeholder;
  }

  listen() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("input", () => {
      if (this.draftSlug) this.drafts.set(this.draftSlug, this.username(), this.input.value);
      this.typed();
    });
    // A textarea: Enter sends, Shift+Enter starts a new line (code blocks, lists); Up in
    // an empty one edits the last message (the completions take Up while they are open).
    this.input.addEventListener("keydown", (event) => {
      if (event.isComposing || event.defaultPrevented) return;
      const bare = !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey;
      if (event.key === "ArrowUp" && bare && this.input.value === "") {
        if (this.editLast()) event.preventDefault();
        return;
      }
      if (event.key !== "Enter" || event.shiftKey) return;
      event.preventDefault();
      this.submit();
    });
    if (this.emojiButton) this.emojiButton.addEventListener("click", () => this.openEmoji());
    // Pasted anywhere in the page (the thread panel takes its own first), dropped on the room.
    wireFileSources(
      { attach: this.attachButton, input: this.fileInput, paste: document, zone: this.dropZone },
      (files) => this.uploadAll(files)
    );
  }
}
