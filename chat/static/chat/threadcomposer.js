// The thread panel's composer: a reply to the thread shown, with "Also send to #room".
// Enter sends, Shift+Enter starts a new line, Up in an empty one edits one's last reply
// there; the draft is kept per thread; typing is
// announced with the thread's id. What is sent goes through the room's Composer
// (composer.js: the room's outbox, its order, client_id and retries). Files (Attach,
// pasted in the panel, dropped on it) are replies too, posted by the room composer's
// upload (uploads.js) with the thread; their placeholder and errors show in the panel.

import { newClientId } from "./dom.js";
import { Drafts } from "./drafts.js";
import { browserStorage } from "./outbox.js";
import { wireFileSources } from "./uploads.js";

export class ThreadComposer {
  // page: composer (the room's Composer), where() -> {slug, root} | null (the thread
  // shown), canWrite(slug), username(), roomLabel(slug), sent() (a reply was queued),
  // editLast() -> true when an editor opened on one's last reply in the panel,
  // lines(slug, root) -> the panel's Timeline while it shows that thread, else null,
  // showError(text) (the room's error line).
  // els: form, input, also, alsoRoom, attach, fileInput, error, panel (paste and drop).
  constructor(page, els) {
    this.page = page;
    this.els = els;
    this.drafts = new Drafts(browserStorage());
    this.draftKey = null;
    wireFileSources({ attach: els.attach, input: els.fileInput, paste: els.panel, zone: els.panel }, (files) =>
      this.uploadAll(files)
    );
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    els.input.addEventListener("input", () => {
      if (this.draftKey) this.drafts.set(this.draftKey, this.page.username(), els.input.value);
      const where = this.page.where();
      if (where) this.page.composer.typed(where.root, els.input.value);
    });
    els.input.addEventListener("keydown", (event) => {
      if (event.isComposing || event.defaultPrevented) return;
      const bare = !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey;
      if (event.key === "ArrowUp" && bare && els.input.value === "") {
        if (this.page.editLast()) event.preventDefault();
        return;
      }
      if (event.key !== "Enter" || event.shiftKey) return;
      event.preventDefault();
      this.submit();
    });
  }

  // The thread shown changed (or closed): the input keeps each thread's draft.
  show() {
    const where = this.page.where();
    const key = where ? `${where.slug}#${where.root}` : null;
    if (key !== this.draftKey) {
      if (this.draftKey) this.drafts.set(this.draftKey, this.page.username(), this.els.input.value);
      this.draftKey = key;
      this.els.input.value = key ? this.drafts.get(key, this.page.username()) : "";
      this.els.also.checked = false;
      this.showError("");
    }
    const writable = Boolean(where && this.page.canWrite(where.slug));
    this.els.input.disabled = !writable;
    this.els.also.disabled = !writable;
    this.els.attach.disabled = !writable;
    this.els.form.querySelector("button[type=submit]").disabled = !writable;
    const label = where ? this.page.roomLabel(where.slug) : "";
    this.els.alsoRoom.textContent = label;
    this.els.input.placeholder = writable ? "Reply in the thread…" : "You cannot write here.";
  }

  // The panel's own error line (the room's is under the room's composer, out of sight
  // when the panel covers the room on a phone).
  showError(text) {
    if (this.els.error.textContent === text && this.els.error.hidden === !text) return;
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
  }

  focus() {
    if (!this.els.input.disabled) this.els.input.focus();
  }

  submit() {
    const where = this.page.where();
    const body = this.els.input.value;
    if (!where || !body.trim() || !this.page.canWrite(where.slug)) return;
    const entry = {
      client_id: newClientId(),
      body,
      created_at: new Date().toISOString(),
      thread: where.root,
      also_to_room: this.els.also.checked,
    };
    this.page.composer.sendInThread(where.slug, entry);
    this.els.input.value = "";
    this.els.also.checked = false;
    this.drafts.clear(this.draftKey, this.page.username());
    this.page.sent();
  }

  shows(where) {
    const now = this.page.where();
    return Boolean(now && now.slug === where.slug && now.root === where.root);
  }

  // Files as replies in the thread shown (with "Also send to #room" as ticked, then
  // unticked as after any send): each a placeholder in the panel until it is saved.
  uploadAll(files) {
    const where = this.page.where();
    const list = Array.from(files || []).filter((file) => file);
    if (!where || !list.length) return;
    if (!this.page.canWrite(where.slug)) {
      this.showError("You cannot write here.");
      return;
    }
    const alsoToRoom = this.els.also.checked;
    for (const file of list) {
      this.page.composer.upload(where.slug, file, {
        thread: where.root,
        alsoToRoom,
        lines: () => this.page.lines(where.slug, where.root),
        // Its error in the panel while it shows that thread, else in the room's line.
        showError: (text) => (this.shows(where) ? this.showError(text) : text && this.page.showError(text)),
      });
    }
    this.els.also.checked = false;
    this.page.sent();
  }
}
