// The thread panel: one thread of the room shown, beside the room's list (over it on a
// phone): its root, then the replies (a Timeline of their own, read with history.fetch
// naming the thread and paged back with `before`), live replies, edits, deletions and
// reactions, who is typing there, Follow/Unfollow, and the address bar (?thread=<id>).
// Its composer is threadcomposer.js's; reading it, threadreading.js's. It sends only
// through the page's `conn` and knows no other panel.

import { span } from "./dom.js";
import { messageItem } from "./message.js";
import { summaryOf } from "./threadsummary.js";
import { repliesText } from "./threadstate.js";

const TYPING_SHOWN_MS = 5000;

export function threadUrl(slug, root) {
  const base = `/chat/${encodeURIComponent(slug)}/`;
  return root === null ? base : `${base}?thread=${root}`;
}

// The thread a location names (?thread=<id>), or null.
export function threadFromLocation(search = location.search) {
  const value = Number(new URLSearchParams(search).get("thread"));
  return Number.isInteger(value) && value > 0 ? value : null;
}

export class ThreadPanel {
  // page: Timeline (the class, from main.js: see roomtimeline.js), conn, states (ThreadStates), username(), profile(name), name(name),
  // roomLabel(slug), roomTimeline(slug), roomLastSeq(slug), change(kind, frame) -> bool,
  // retry(slug, entry), settled(slug, clientId), maxBodyChars, seen() (replies in view
  // changed), viewChanged() (its "Jump to latest" may change), shown(open) (the panel
  // opened or closed: the composer and reading follow).
  // els: panel, title, room, follow, close, main, typing.
  constructor(page, els) {
    this.page = page;
    this.els = els;
    this.slug = null;
    this.root = null; // the root's id
    this.rootMessage = null;
    this.timeline = null;
    this.typists = new Map(); // username -> timer
    this.missing = false; // no root: the thread could not be read (bad_thread)
    this.returnFocus = null;
    els.close.addEventListener("click", () => this.close({ history: "push" }));
    els.follow.addEventListener("click", () => this.toggleFollow());
  }

  isOpen() {
    return this.slug !== null;
  }

  shows(slug, root) {
    return this.slug === slug && this.root === root;
  }

  // Open `root` of room `slug`. options: root (the root message, when the opener has
  // it), at (a reply's seq to show), history ("push", "replace" or "none"), focus.
  open(slug, root, options = {}) {
    if (!this.shows(slug, root)) {
      this.reset();
      this.slug = slug;
      this.root = root;
      this.rootMessage = options.root || this.findHeld(slug, root);
      this.build();
    }
    if (options.history === "push") history.pushState({ slug, thread: root }, "", threadUrl(slug, root));
    else if (options.history === "replace") history.replaceState({ slug, thread: root }, "", threadUrl(slug, root));
    if (options.opener instanceof HTMLElement) this.returnFocus = options.opener;
    this.els.panel.hidden = false;
    document.body.classList.add("thread-open");
    if (Number.isInteger(options.at)) this.timeline.jumpTo(options.at);
    this.load();
    this.renderHead();
    this.page.shown(true, options.focus !== false);
  }

  close(options = {}) {
    if (!this.isOpen()) return;
    const { slug, root } = this;
    const hadFocus = this.els.panel.contains(document.activeElement);
    this.reset();
    this.els.panel.hidden = true;
    document.body.classList.remove("thread-open");
    if (options.history === "push") history.pushState({ slug }, "", threadUrl(slug, null));
    // Focus goes back to what opened it (or its root's summary, drawn again since), else
    // to the room's composer, unless the panel did not have it.
    let back = this.returnFocus;
    this.returnFocus = null;
    if (!back || !back.isConnected) back = document.querySelector(`#messages li[data-id="${root}"] .thread-summary`);
    if (!back || !back.isConnected) back = document.getElementById("body");
    if (options.focus !== false && hadFocus && back && !back.disabled) back.focus();
    this.page.shown(false, false); // (the Threads view it came from takes the focus)
  }

  reset() {
    if (this.timeline) {
      this.timeline.observer.disconnect();
      this.timeline.list.remove();
    }
    this.typists.forEach((timer) => clearTimeout(timer));
    this.typists.clear();
    this.els.typing.textContent = "";
    this.timeline = null;
    this.slug = this.root = this.rootMessage = null;
    this.missing = false;
    delete this.els.panel.dataset.loaded;
  }

  // The root as the room's list holds it (drawn from the message it was made of).
  findHeld(slug, root) {
    const item = this.page.roomTimeline(slug)?.byId.get(root);
    return item && item.message ? item.message : null;
  }

  build() {
    const { slug, root, page } = this;
    const tag = (purpose, at, limit) => ({ kind: "fetch", room: slug, thread: root, ...at, limit, purpose });
    const timeline = new page.Timeline(slug, {
      inThread: true,
      fetch: (room, before, limit, purpose) =>
        page.conn.send({ type: "history.fetch", room, thread: root, before, limit }, tag(purpose, { before }, limit)),
      fetchAt: (room, at, limit, purpose) =>
        page.conn.send({ type: "history.fetch", room, thread: root, ...at, limit }, tag(purpose, at, limit)),
      change: (kind, frame) => page.change(kind, frame),
      seen: () => page.seen(),
      viewChanged: () => page.viewChanged(),
      readSeq: () => page.states.get(slug, root)?.lastReadSeq ?? 0,
      retry: (room, entry) => page.retry(room, entry),
      settled: (room, clientId) => page.settled(room, clientId),
      username: () => page.username(),
      profile: (name) => page.profile(name),
      maxBodyChars: page.maxBodyChars,
    });
    timeline.list.id = "thread-messages";
    timeline.list.classList.add("thread-messages");
    timeline.list.setAttribute("aria-label", "Thread");
    this.timeline = timeline;
    this.els.main.prepend(timeline.list);
    this.drawRoot();
  }

  // The root first, then a line with the number of replies; the replies below it.
  drawRoot() {
    const list = this.timeline.list;
    list.querySelector(":scope > li.thread-root")?.remove();
    let divider = list.querySelector(":scope > li.thread-divider");
    if (!divider) {
      divider = document.createElement("li");
      divider.className = "thread-divider";
      list.prepend(divider);
    }
    const message = this.rootMessage;
    let item;
    if (message) {
      item = messageItem(message, this.page.username(), this.page.profile(message.author), true);
      this.timeline.byId.set(message.id, item); // edits, reactions (not a seq of the replies)
    } else {
      item = document.createElement("li");
      item.append(span("thread-root-missing", this.missing ? "This thread cannot be opened." : "Loading…"));
    }
    item.classList.add("thread-root");
    divider.before(item);
    this.renderDivider();
  }

  renderDivider() {
    const divider = this.timeline?.list.querySelector(":scope > li.thread-divider");
    if (!divider) return;
    const summary = summaryOf(this.root);
    divider.textContent = summary ? repliesText(summary.replies) : "";
  }

  renderHead() {
    if (!this.isOpen()) return;
    this.els.room.textContent = `in ${this.page.roomLabel(this.slug)}`;
    const state = this.page.states.get(this.slug, this.root);
    const following = Boolean(state && state.following && !state.unknown);
    this.els.follow.textContent = following ? "Following" : "Follow";
    this.els.follow.setAttribute("aria-pressed", String(following));
    this.els.follow.title = following ? "Stop following this thread" : "Follow this thread: be told of new replies";
    this.renderDivider();
  }

  toggleFollow() {
    if (!this.isOpen()) return;
    const state = this.page.states.get(this.slug, this.root);
    const following = !(state && state.following && !state.unknown);
    const frame = { type: "thread.follow", room: this.slug, root: this.root, following };
    this.page.conn.send(frame, { kind: "thread", room: this.slug, root: this.root });
  }

  // Read the newest page of replies (once connected; again after every hello).
  load() {
    const timeline = this.timeline;
    if (!timeline || timeline.loaded || timeline.loading || !this.page.conn.isOpen()) return;
    timeline.load(this.page.roomLastSeq(this.slug));
  }

  // A new hello: replies may have been missed while away; read the thread again.
  onHello() {
    if (!this.isOpen()) return;
    const { slug, root, rootMessage } = this;
    const at = this.timeline.context.pending;
    this.reset();
    this.slug = slug;
    this.root = root;
    this.rootMessage = rootMessage || this.findHeld(slug, root);
    this.build();
    if (Number.isInteger(at)) this.timeline.jumpTo(at);
    this.load();
  }

  // --- frames ----------------------------------------------------------------------------

  // A history frame answering one of the panel's fetches: true when it was.
  onHistory(frame, tag) {
    if (!tag || tag.thread === undefined) return false; // the room's
    if (tag.room !== this.slug || tag.thread !== this.root || !this.timeline) return true; // closed since
    // The answer carries the root as the room's timeline shows it (a link needs no more).
    const root = frame.root;
    if (root && root.id === this.root && (!this.rootMessage || Boolean(root.deleted) !== Boolean(this.rootMessage.deleted))) {
      this.setRoot(root);
    }
    const timeline = this.timeline;
    const fresh = timeline.onHistory(Array.isArray(frame.messages) ? frame.messages : [], tag);
    if (fresh) {
      // Read again from the newest ("Jump to latest" past released replies): the list
      // was cleared, root and all.
      if (!timeline.list.querySelector(":scope > li.thread-root")) this.drawRoot();
      const state = this.page.states.get(this.slug, this.root);
      if (!(state && state.unread > 0 && timeline.placeMarker(state.lastReadSeq))) timeline.clearMarker();
      timeline.scrollForOpen();
      timeline.maybeLoadOlder();
      this.els.panel.dataset.loaded = "true";
      this.page.seen();
    }
    return true;
  }

  onFetchFailed(tag, retryable) {
    if (tag.room !== this.slug || tag.thread !== this.root || !this.timeline) return;
    this.timeline.onFetchFailed(tag, retryable);
    if (tag.purpose === "open" && !retryable) {
      this.missing = true; // not a thread of this room (bad_thread), or no access
      if (!this.rootMessage) this.drawRoot();
    }
  }

  setRoot(message) {
    this.rootMessage = message;
    if (this.timeline) this.drawRoot();
  }

  // A live reply of this thread.
  onMessage(slug, message) {
    if (!this.shows(slug, message.thread) || !this.timeline) return false;
    this.typingStopped(message.author);
    this.timeline.live(message);
    return true;
  }

  onUpdated(message) {
    if (!this.timeline || !message) return;
    if (message.id === this.root) this.rootMessage = { ...this.rootMessage, ...message };
    this.timeline.update(message);
  }

  onDeleted(frame) {
    if (!this.timeline) return;
    if (frame.id === this.root) {
      this.timeline.byId.delete(this.root);
      const { id, seq, created_at } = this.rootMessage || { id: frame.id, seq: frame.seq };
      this.setRoot({ id, seq, created_at, deleted: true }); // its thread stays readable
      return;
    }
    this.timeline.remove(frame.id, frame.seq);
  }

  onSummary(root) {
    if (root === this.root) this.renderDivider();
  }

  // --- typing in this thread ---------------------------------------------------------------

  typingStarted(slug, root, name) {
    if (!this.shows(slug, root) || !name || name === this.page.username()) return;
    clearTimeout(this.typists.get(name));
    this.typists.set(name, setTimeout(() => this.typingStopped(name), TYPING_SHOWN_MS));
    this.renderTyping();
  }

  typingStopped(name) {
    if (!this.typists.has(name)) return;
    clearTimeout(this.typists.get(name));
    this.typists.delete(name);
    this.renderTyping();
  }

  renderTyping() {
    const who = [...this.typists.keys()].sort().map((name) => this.page.name(name));
    let text = "";
    if (who.length === 1) text = `${who[0]} is typing…`;
    else if (who.length === 2) text = `${who[0]} and ${who[1]} are typing…`;
    else if (who.length > 2) text = "several people are typing…";
    if (this.els.typing.textContent !== text) this.els.typing.textContent = text;
  }
}
