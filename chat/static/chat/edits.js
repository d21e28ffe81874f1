// Inline edit and delete of the user's own messages in one room's list: the editor, the
// "Delete?" question, and the saving/deleting state until the broadcast (or a timeout).

import { button } from "./dom.js";

const CHANGE_PENDING_MS = 10000; // an edit/delete with no broadcast by then is given up

export class Edits {
  // requests: change(kind, frame) -> bool (sent); maxBodyChars. byId(id) -> the <li>.
  constructor(list, requests, byId) {
    this.list = list;
    this.requests = requests;
    this.byId = byId;
    this.changeTimers = new Map();
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("keydown", (event) => this.onKeydown(event));
  }

  onClick(event) {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    const item = target && target.closest("li.message");
    if (!item || !item.dataset.id || !this.list.contains(item)) return;
    switch (target.dataset.action) {
      case "edit":
        this.openEditor(item);
        break;
      case "delete":
        askDelete(item);
        break;
      case "confirm-delete":
        if (this.sendChange(item, "delete", { type: "message.delete", id: Number(item.dataset.id) })) {
          closeEditor(item);
        }
        break;
      case "keep":
        closeEditor(item);
        break;
    }
  }

  onKeydown(event) {
    const target = event.target;
    const item = target instanceof Element ? target.closest("li.message") : null;
    if (!item) return;
    // Enter saves; Shift+Enter is a new line (the body may have several).
    if (target.classList.contains("editor") && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.saveEdit(item, target);
    } else if (event.key === "Escape" && item.matches(".editing, .confirming")) {
      event.preventDefault();
      event.stopPropagation();
      closeEditor(item);
      const actions = part(item, "actions");
      (actions.querySelector("button.edit") || actions.querySelector("button")).focus();
    }
  }

  // Edit this message of one's own (the composer's Up arrow, the action bar's Edit):
  // true when its editor opened.
  startEditing(messageId) {
    const item = this.byId(Number(messageId));
    if (!item || !item.classList.contains("own") || !part(item, "actions")?.querySelector("button.edit")) {
      return false;
    }
    this.openEditor(item);
    item.scrollIntoView({ block: "nearest" });
    return true;
  }

  openEditor(item) {
    closeEditor(item);
    const body = part(item, "body");
    const editor = document.createElement("textarea");
    editor.className = "editor";
    if (this.requests.maxBodyChars > 0) editor.maxLength = this.requests.maxBodyChars;
    editor.value = sourceOf(body);
    editor.rows = Math.min(12, editor.value.split("\n").length);
    editor.setAttribute("aria-label", "Edit message: Enter saves, Shift+Enter new line, Escape cancels");
    editor.title = "Enter saves, Shift+Enter new line, Escape cancels";
    body.hidden = true;
    part(item, "actions").hidden = true;
    body.after(editor);
    item.classList.add("editing");
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
  }

  saveEdit(item, editor) {
    const body = editor.value;
    if (body === sourceOf(part(item, "body"))) {
      closeEditor(item); // nothing changed: nothing to send
      return;
    }
    const frame = { type: "message.edit", id: Number(item.dataset.id), body };
    if (this.sendChange(item, "edit", frame)) closeEditor(item);
  }

  sendChange(item, kind, frame) {
    if (!this.requests.change(kind, frame)) return false;
    item.classList.add(kind === "edit" ? "saving" : "deleting");
    const key = `${kind}:${frame.id}`;
    clearTimeout(this.changeTimers.get(key));
    this.changeTimers.set(key, setTimeout(() => this.settleChange(item, kind), CHANGE_PENDING_MS));
    return true;
  }

  settleChange(item, kind) {
    item.classList.remove(kind === "edit" ? "saving" : "deleting");
    const key = `${kind}:${Number(item.dataset.id)}`;
    clearTimeout(this.changeTimers.get(key));
    this.changeTimers.delete(key);
  }

  changeFailed(tag) {
    const item = this.byId(tag.id);
    if (item) this.settleChange(item, tag.kind);
  }

  // The socket went down: changes in flight will never be answered.
  settleAll() {
    this.list.querySelectorAll("li.saving, li.deleting").forEach((item) => {
      this.settleChange(item, "edit");
      this.settleChange(item, "delete");
    });
  }

  // Access to the room is gone: nothing of one's own can be changed any more.
  freeze() {
    this.list.querySelectorAll("li.editing, li.confirming").forEach((item) => closeEditor(item));
    this.list.querySelectorAll("li.message > .actions > .edit, li.message > .actions > .delete").forEach((el) => el.remove());
  }
}

// What the author wrote (the body shows the server's rendering of it).
function sourceOf(body) {
  return body.dataset.source ?? body.textContent;
}

function part(item, className) {
  return item.querySelector(`:scope > .${className}`);
}

function closeEditor(item) {
  for (const name of ["editor", "confirm"]) {
    const el = part(item, name);
    if (el) el.remove();
  }
  part(item, "body").hidden = false;
  const actions = part(item, "actions");
  if (actions) actions.hidden = false;
  item.classList.remove("editing", "confirming");
}

function askDelete(item) {
  closeEditor(item);
  const confirm = document.createElement("div");
  confirm.className = "confirm";
  const no = button("keep", "no", "No, keep it");
  confirm.append("Delete? ", button("confirm-delete", "yes", "Yes, delete it"), " ", no);
  part(item, "actions").hidden = true;
  part(item, "body").after(confirm);
  item.classList.add("confirming");
  no.focus();
}
