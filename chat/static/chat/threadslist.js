// The sidebar's "Threads" entry (unread threads and mentions, from hello.threads and each
// thread.state's totals) and the Threads view it opens: the followed threads, newest
// last reply first (threads.fetch), all or only the unread ones, "Load more" with the
// `next` cursor, each with its room, root excerpt, last reply, unread and mention
// counts and Follow/Unfollow. thread.state and thread.updated keep the items live. A
// click opens the thread in its room (the page's `open`).

import { messageLook } from "./botlook.js";
import { span } from "./dom.js";
import { botBadge } from "./profiles.js";
import { cleanSummary, lastReplyText, repliesText, threadKey } from "./threadstate.js";
import { noteSummary } from "./threadsummary.js";

const PAGE = 20;

function badge(kind, shown, words) {
  const el = span(`badge ${kind}`, shown);
  el.append(span("visually-hidden", words));
  return el;
}
const EXCERPT_CHARS = 140;

function excerptOf(message) {
  if (!message || message.deleted) return "(deleted message)";
  const text = typeof message.body === "string" ? message.body : "";
  const line = text.split(/\s+/).filter(Boolean).join(" ");
  return line.length > EXCERPT_CHARS ? `${line.slice(0, EXCERPT_CHARS - 1)}…` : line;
}

export class ThreadsView {
  // page: conn, states (ThreadStates), roomLabel(slug), name(username), open(slug,
  // root, rootMessage, opener), follow(slug, root, following), shown(open).
  // els: entry, count, mentions, view, list, status, more, all, unreads, close.
  constructor(page, els) {
    this.page = page;
    this.els = els;
    this.unread = false; // the Unreads filter
    this.items = new Map(); // key -> {item, li}
    this.next = null;
    this.loading = false;
    this.serial = 0; // answers of a replaced listing are dropped
    this.reloadTimer = null;
    els.entry.addEventListener("click", () => (this.isOpen() ? this.close() : this.show()));
    els.close.addEventListener("click", () => this.close());
    els.more.addEventListener("click", () => this.fetch());
    els.all.addEventListener("click", () => this.filter(false));
    els.unreads.addEventListener("click", () => this.filter(true));
    els.list.addEventListener("click", (event) => this.clicked(event));
    this.renderFilter();
  }

  isOpen() {
    return !this.els.view.hidden;
  }

  // --- the sidebar entry -------------------------------------------------------------------

  renderEntry() {
    // Named by its text: "Threads @1 mention 2 unread" (the words after the numbers are
    // for screen readers only).
    const { unreadThreads, mentions } = this.page.states.totals;
    const words = (n, one, many) => span("visually-hidden", ` ${n === 1 ? one : many}`);
    this.els.count.replaceChildren(...(unreadThreads ? [String(unreadThreads), words(unreadThreads, "unread", "unread")] : []));
    this.els.mentions.replaceChildren(...(mentions ? [`@${mentions}`, words(mentions, "mention", "mentions")] : []));
    this.els.mentions.hidden = !mentions;
    this.els.entry.classList.toggle("unread", unreadThreads > 0);
  }

  // --- the view ----------------------------------------------------------------------------

  show() {
    this.els.view.hidden = false;
    this.els.entry.setAttribute("aria-expanded", "true");
    document.body.classList.add("threads-open");
    this.page.shown(true);
    this.reload();
    this.els.close.focus();
  }

  close(focus = true) {
    if (!this.isOpen()) return;
    this.els.view.hidden = true;
    this.els.entry.setAttribute("aria-expanded", "false");
    document.body.classList.remove("threads-open");
    this.page.shown(false);
    if (focus && getComputedStyle(this.els.entry).visibility !== "hidden") this.els.entry.focus();
  }

  filter(unread) {
    if (this.unread === unread) return;
    this.unread = unread;
    this.renderFilter();
    this.reload();
  }

  renderFilter() {
    this.els.all.setAttribute("aria-pressed", String(!this.unread));
    this.els.unreads.setAttribute("aria-pressed", String(this.unread));
  }

  reload() {
    this.serial += 1;
    this.items.clear();
    this.next = null;
    this.loading = false;
    this.els.list.replaceChildren();
    this.els.more.hidden = true;
    this.status("Loading…");
    this.fetch();
  }

  fetch() {
    if (this.loading || !this.isOpen()) return;
    const frame = { type: "threads.fetch", unread: this.unread, before: this.next, limit: PAGE };
    this.loading = this.page.conn.send(frame, { kind: "threads", serial: this.serial });
    if (!this.loading) this.status("Not connected: the list shows once the page has reconnected.");
  }

  // After a hello: the list may be stale.
  onHello() {
    if (this.isOpen()) this.reload();
  }

  onThreads(frame, tag) {
    if (!tag || tag.serial !== this.serial) return; // a replaced listing
    this.loading = false;
    const items = Array.isArray(frame.items) ? frame.items : [];
    for (const item of items) {
      if (!item || typeof item.room !== "string" || !item.root || !Number.isInteger(item.root.id)) continue;
      const key = threadKey(item.room, item.root.id);
      if (this.items.has(key)) continue;
      const summary = noteSummary(item.root.id, item.summary, false);
      this.page.states.apply({ ...item, root: item.root.id }, summary ? summary.lastSeq : 0);
      const entry = { item, li: document.createElement("li") };
      this.items.set(key, entry);
      this.draw(entry);
      this.els.list.append(entry.li);
    }
    this.next = typeof frame.next === "string" && frame.next ? frame.next : null;
    this.els.more.hidden = !this.next;
    const none = this.unread ? "No unread threads." : "You follow no thread yet.";
    this.status(this.items.size ? "" : none);
  }

  onFailed(tag) {
    if (!tag || tag.serial !== this.serial) return;
    this.loading = false;
    this.status("The list could not be read.");
  }

  // thread.state: the counts and Follow of an item shown; a followed thread not listed
  // yet (a new one) reads the list again, shortly.
  onState(frame) {
    const entry = this.items.get(threadKey(frame.room, frame.root));
    if (entry) {
      this.draw(entry);
      return;
    }
    if (!this.isOpen() || frame.following !== true) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.isOpen() && this.reload(), 500);
  }

  onSummary(room, root) {
    const entry = this.items.get(threadKey(room, root));
    if (entry) this.draw(entry);
  }

  draw(entry) {
    const { item, li } = entry;
    const root = item.root;
    const state = this.page.states.get(item.room, root.id);
    const summary = noteSummary(root.id, null, false) || cleanSummary(item.summary);
    const unread = state ? state.unread : 0;
    const mentions = state ? state.mentions : 0;
    const following = state ? state.following : item.following === true;
    li.className = `thread-item${unread ? " unread" : ""}`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "thread-open";
    open.dataset.room = item.room;
    open.dataset.root = String(root.id);
    const head = document.createElement("span");
    head.className = "thread-item-head";
    head.append(span("thread-item-room", this.page.roomLabel(item.room)));
    // Named by its text: the badges say in words what they count.
    if (mentions) head.append(" ", badge("mention", `@${mentions}`, mentions === 1 ? " mention" : " mentions"));
    if (unread) head.append(" ", badge("count", String(unread), " unread"));
    const look = messageLook(root); // a bot's root: the name it posted with, and BOT
    const author = root.kind === "system" ? "Announcement" : look ? look.displayName : this.page.name(root.author);
    const text = document.createElement("span");
    text.className = "thread-item-text";
    const who = span("thread-item-author", look ? `${author} ` : `${author}: `);
    if (look) who.append(botBadge(), ": ");
    text.append(who, excerptOf(root));
    const meta = document.createElement("span");
    meta.className = "thread-item-meta";
    if (summary) meta.textContent = [repliesText(summary.replies), lastReplyText(summary.lastReplyAt, Date.now())].filter(Boolean).join(" · ");
    open.append(head, " ", text, " ", meta);
    const follow = document.createElement("button");
    follow.type = "button";
    follow.className = "thread-follow";
    follow.dataset.action = "follow";
    follow.textContent = following ? "Unfollow" : "Follow";
    follow.setAttribute("aria-label", `${following ? "Unfollow" : "Follow"} this thread in ${this.page.roomLabel(item.room)}`);
    const focused = li.contains(document.activeElement) ? (document.activeElement.classList.contains("thread-follow") ? "follow" : "open") : null;
    li.replaceChildren(open, follow);
    if (focused) (focused === "follow" ? follow : open).focus();
  }

  clicked(event) {
    const target = event.target instanceof Element ? event.target.closest("button") : null;
    const li = target && target.closest("li.thread-item");
    if (!li) return;
    const entry = [...this.items.values()].find((e) => e.li === li);
    if (!entry) return;
    const { room, root } = entry.item;
    if (target.dataset.action === "follow") {
      const state = this.page.states.get(room, root.id);
      const following = state ? state.following : entry.item.following === true;
      this.page.follow(room, root.id, !following);
      return;
    }
    this.page.open(room, root.id, root, this.els.entry);
  }

  status(text) {
    this.els.status.textContent = text;
    this.els.status.hidden = !text;
  }
}
