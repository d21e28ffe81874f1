// The frame around the room shown: its header (name, tags, topic, Members and
// Integrations links), the
// error line, Join/Leave, the notice and whether the composer may write. Renders only.

import { span } from "./dom.js";

export const NO_ACCESS_TEXT = "You no longer have access to this room.";
export const LEFT_NOTICES = {
  left: "You left this room.",
  removed: "You were removed from this room.",
  banned: "You were banned from this room.",
  forbidden: NO_ACCESS_TEXT,
  room_not_found: "This room no longer exists.",
};

export class RoomView {
  // page: store, timelines, current() -> slug, canWrite(slug), stopped() -> text,
  // composer() and renderSidebar(); elements: room, name, status, error, notice, join, leave.
  constructor(page, elements) {
    this.page = page;
    this.el = elements;
  }

  showError(text) {
    const errorEl = this.el.error;
    if (errorEl.textContent === text && errorEl.hidden === !text) return;
    const timeline = this.page.timelines.get(this.page.current());
    const keep = timeline && timeline.nearBottom(); // the error line takes room from the list
    errorEl.textContent = text;
    errorEl.hidden = !text;
    if (keep) timeline.scrollToBottom();
  }

  renderHeader(room) {
    const statusEl = this.el.status;
    const head = statusEl.parentElement;
    head.querySelectorAll(":scope > .tags, :scope > .topic, :scope > .manage").forEach((el) => el.remove());
    this.el.name.textContent = room.name;
    const tags = [];
    if (room.kind === "direct") tags.push(span("tag", "direct"));
    else if (room.kind === "private") tags.push(span("tag", "private"));
    if (room.locked) {
      const locked = span("tag locked", "locked");
      locked.title = "Only staff can write here";
      tags.push(locked);
    }
    const before = statusEl;
    if (tags.length) {
      const p = document.createElement("p");
      p.className = "tags";
      tags.forEach((tag, i) => p.append(...(i ? [" ", tag] : [tag])));
      head.insertBefore(p, before);
    }
    if (room.topic) {
      const p = document.createElement("p");
      p.className = "topic";
      p.textContent = room.topic;
      head.insertBefore(p, before);
    }
    const base = `/chat/${encodeURIComponent(room.slug)}`;
    if (room.kind === "private" && room.canManage) head.insertBefore(manageLink(`${base}/members/`, "Members", "members"), before);
    // Its webhooks: staff anywhere, a private room's owner, members of public rooms
    // where the server lets them (data-hooks-open: "staff", "members" or "").
    const hooksOpen = this.el.name.closest("[data-hooks-open]")?.dataset.hooksOpen || "";
    const mayHook = room.kind === "private" ? room.canManage : room.kind === "public" && hooksOpen !== "";
    if (mayHook) head.insertBefore(manageLink(`${base}/integrations/`, "Integrations", "integrations"), before);
    // Its settings (the retention span): its owner or staff.
    const mayConfigure = room.kind !== "direct" && (room.canManage || hooksOpen === "staff");
    if (mayConfigure) head.insertBefore(manageLink(`${base}/settings/`, "Settings", "settings"), before);
  }

  // Everything about the room shown that depends on its state: header, Join/Leave,
  // notice, composer.
  render() {
    const { store, timelines } = this.page;
    const current = this.page.current();
    const stoppedText = this.page.stopped();
    const room = store.get(current);
    if (room) this.renderHeader(room);
    const lost = room ? room.lost : "";
    const writable = this.page.canWrite(current);
    // For styles and tests: what the page knows of the room shown.
    this.el.room.dataset.roomState = !room ? "unknown" : lost ? "lost" : room.joined ? "joined" : "preview";
    const timeline = timelines.get(current);
    this.el.room.dataset.loaded = String(!!timeline && timeline.loaded);
    this.el.join.hidden = !(room && !room.joined && room.kind === "public" && !stoppedText && lost !== "banned");
    this.el.leave.hidden = !(room && room.joined && room.kind !== "direct" && !stoppedText);
    const notice = lost ? LEFT_NOTICES[lost] || NO_ACCESS_TEXT : room && !room.joined ? "You are previewing this room. Join it to write here." : "";
    this.el.notice.textContent = notice;
    this.el.notice.hidden = !notice;
    const name = room ? room.name : this.el.name.textContent;
    this.page.composer().setEnabled(
      writable,
      // A preview keeps the room's placeholder (the notice says to join first).
      lost || stoppedText ? "You cannot write here." : `Message ${name} (paste or drop an image to send it)`
    );
    this.page.renderSidebar();
  }
}

function manageLink(href, text, what) {
  const link = document.createElement("a");
  link.className = `manage manage-${what}`;
  link.href = href;
  link.textContent = text;
  return link;
}
