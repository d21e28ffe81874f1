// One room's message list: saved messages in seq order (each seq once), the outbox's
// pending and failed entries below them, the "New messages" line, and which messages are
// in view (for the read pointer). Each room keeps its own <ol>; the page shows one at a
// time. It never sends: the page passes `requests` for that. Drawing one message is
// message.js's, grouping and day separators listdecor.js's, history and the bounded DOM
// paging.js's, the action bar and keyboard actionbar.js's, editing edits.js's.

import { ActionBar, tabbable } from "./actionbar.js";
import { ContextJump } from "./context.js";
import { span } from "./dom.js";
import { Edits } from "./edits.js";
import { decorate, decorateAround, nextMessage, relabelDays } from "./listdecor.js";
import { isMention } from "./mentions.js";
import { fillBody, markEdited, markRepliesDeleted, messageItem, refreshAuthors } from "./message.js";
import { OutboxLines } from "./outboxlines.js";
import { Paging } from "./paging.js";
import { ReactionClicks } from "./reactions.js";

export { GAP_PAGE, OLDER_PAGE } from "./paging.js";

const NEAR_EDGE_PX = 40;

export class Timeline {
  // requests: fetch(slug, before, limit, purpose) -> bool; fetchAt(slug, {around} or
  // {after}, limit, purpose) -> bool; change(item, kind, frame) -> bool;
  // seen() (what is in view changed); viewChanged() (the "Jump to latest" count may
  // have); readSeq() -> the room's read pointer; retry(slug, entry) (send a failed
  // message again); username() -> string;
  // profile(username) -> the cached profile or null; maxBodyChars; inThread, openThread (threads).
  constructor(slug, requests) {
    this.slug = slug;
    this.requests = requests;
    this.list = document.createElement("ol");
    this.list.className = "messages";
    this.list.tabIndex = 0; // scrollable by keyboard; arrows move to messages (actionbar.js)
    this.list.setAttribute("aria-label", "Messages");
    this.seqs = []; // seqs of the saved messages shown, ascending
    this.bySeq = new Map(); // seq -> <li>
    this.byId = new Map(); // message id -> <li>
    this.deletedIds = new Set(); // never shown again, even if a late frame carries one
    this.outbox = new OutboxLines(this); // the outbox's pending and failed lines
    this.loaded = false; // the opening page of history has arrived
    this.loading = false;
    this.cursor = null; // highest seq the stream delivered, once loaded (for ?after=)
    this.olderLoading = false;
    this.olderExhausted = false;
    this.newerFrom = null; // newer saved messages than this seq were released (paging.js)
    this.newerLoading = false;
    this.gaps = []; // {low, high}: saved messages with low < seq < high still to fetch
    this.gapLoading = false;
    this.pendingGap = null; // after an incomplete resume: its `after`, until a frame comes
    this.scrollTop = null; // kept while another room is shown
    this.marker = null; // the "New messages" line
    this.wantBottom = false; // "Jump to latest" reloaded the newest page: end there
    this.inView = new Set(); // seqs of the messages on screen now
    this.observer = new IntersectionObserver((entries) => this.observed(entries), {
      root: this.list,
      threshold: [0, 0.5, 1],
    });
    this.context = new ContextJump(this); // a message opened in context, and the hole below it
    this.paging = new Paging(this);
    let scheduled = false;
    this.list.addEventListener(
      "scroll",
      () => {
        this.paging.maybeLoadOlder();
        this.paging.maybeLoadNewer();
        this.context.maybeFill();
        if (scheduled) return;
        scheduled = true;
        requestAnimationFrame(() => {
          scheduled = false;
          this.viewChanged();
        });
      },
      { passive: true }
    );
    this.edits = new Edits(this.list, requests, (id) => this.byId.get(id));
    this.reactions = new ReactionClicks(this.list, requests);
    this.actions = new ActionBar(this.list, { slug, requests });
  }

  // --- what is in view -------------------------------------------------------------------

  observed(entries) {
    for (const entry of entries) {
      const seq = Number(entry.target.dataset.seq);
      if (!Number.isInteger(seq)) continue;
      const root = entry.rootBounds;
      const shown =
        entry.isIntersecting &&
        (entry.intersectionRatio >= 0.5 ||
          (root && entry.intersectionRect.height >= root.height * 0.5));
      if (shown) this.inView.add(seq);
      else this.inView.delete(seq);
    }
    this.requests.seen();
  }

  highestInView() {
    let top = 0;
    for (const seq of this.inView) if (this.bySeq.has(seq)) top = Math.max(top, seq);
    return top;
  }

  nearBottom() {
    if (this.newerFrom !== null) return false; // the newest are not even held
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // How many saved messages are new below the view (paging.js).
  newerCount() {
    return this.paging.newerCount();
  }

  // "Jump to latest" (paging.js).
  jumpToLatest() {
    this.paging.jumpToLatest();
  }

  viewChanged() {
    if (this.requests.viewChanged) this.requests.viewChanged(this.slug);
  }

  // --- rendering -------------------------------------------------------------------------

  // These users' profiles changed: their messages shown here follow.
  refreshAuthors(usernames) {
    refreshAuthors(this.list, usernames, (name) => this.requests.profile(name));
  }

  // Insert a saved message at its seq; a seq already shown is never shown twice, nor one
  // newer than a released part (paging.js reads those when scrolled to). True when it
  // was added.
  insert(message) {
    if (!message || !Number.isInteger(message.seq)) return false;
    this.settle(message);
    if (this.deletedIds.has(message.id) || this.bySeq.has(message.seq)) return false;
    if (this.newerFrom !== null && message.seq > this.newerFrom) return false;
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] < message.seq) lo = mid + 1;
      else hi = mid;
    }
    const item = messageItem(message, this.requests.username(), this.requests.profile(message.author), this.requests.inThread === true);
    tabbable(item, false); // reached through the list's arrows (actionbar.js)
    // Saved messages first in seq order; the outbox (pending, failed) stays below.
    const next =
      lo < this.seqs.length
        ? this.bySeq.get(this.seqs[lo])
        : this.list.querySelector(":scope > li.outbox, :scope > li.upload");
    // The "New messages" line stays above the first message it was put before.
    const before = this.marker && next && next.previousElementSibling === this.marker ? this.marker : next;
    this.list.insertBefore(item, before);
    this.seqs.splice(lo, 0, message.seq);
    this.bySeq.set(message.seq, item);
    if (Number.isInteger(message.id)) this.byId.set(message.id, item);
    this.observer.observe(item);
    decorateAround(item);
    return true;
  }

  // Take a saved message out of the list (deleted, or released by paging.js).
  release(seq) {
    const item = this.bySeq.get(seq);
    if (!item) return;
    const below = nextMessage(item);
    this.observer.unobserve(item);
    item.remove();
    this.bySeq.delete(seq);
    this.inView.delete(seq);
    const at = this.seqs.indexOf(seq);
    if (at >= 0) this.seqs.splice(at, 1);
    const id = Number(item.dataset.id);
    if (Number.isInteger(id) && this.byId.get(id) === item) this.byId.delete(id);
    if (this.marker && !this.marker.nextElementSibling?.matches("li[data-seq]")) this.clearMarker();
    if (below) decorate(below);
  }

  // A live (or resumed) message frame: shown, and the stream cursor follows it.
  live(message) {
    const keep = this.nearBottom();
    if (this.pendingGap !== null && Number.isInteger(message.seq)) {
      if (message.seq > this.pendingGap + 1 && this.newerFrom === null) {
        this.gaps.push({ low: this.pendingGap, high: message.seq });
      }
      this.pendingGap = null;
      this.paging.fillGaps();
    }
    this.insert(message);
    if (this.cursor !== null && Number.isInteger(message.seq)) {
      this.cursor = Math.max(this.cursor, message.seq);
    }
    if (keep) {
      this.scrollToBottom();
      this.paging.releaseOldest(); // a busy room left open all day stays bounded
    }
    this.viewChanged();
  }

  insertKeepingView(messages) {
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    messages.forEach((m) => this.insert(m));
    this.list.scrollTop = this.list.scrollHeight - fromBottom;
  }

  update(message) {
    if (!message || !Number.isInteger(message.id) || typeof message.body !== "string") return;
    const item = this.byId.get(message.id);
    if (!item) return;
    const keep = this.nearBottom();
    const body = item.querySelector(":scope > .body");
    item.message = { ...item.message, ...message };
    fillBody(body, message, this.requests.username());
    if (item.dataset.author !== this.requests.username()) {
      item.classList.toggle("mentions-me", isMention(message, this.requests.username()));
    }
    markEdited(item);
    tabbable(item, item.contains(document.activeElement)); // its new links too
    this.edits.settleChange(item, "edit");
    if (keep) this.scrollToBottom();
  }

  // The id of this user's newest saved message held here, or null (the composer's Up
  // arrow edits it through edits.startEditing).
  lastOwnId() {
    for (let i = this.seqs.length - 1; i >= 0; i--) {
      const item = this.bySeq.get(this.seqs[i]);
      if (item.classList.contains("own") && item.dataset.id) return Number(item.dataset.id);
    }
    return null;
  }

  // Bring a message into view and mark it for a moment (a notification was clicked).
  reveal(seq) {
    const item = this.bySeq.get(seq);
    if (!item) return false;
    item.scrollIntoView({ block: "center" });
    item.classList.add("revealed");
    setTimeout(() => item.classList.remove("revealed"), 3000);
    return true;
  }

  remove(id, seq) {
    if (!Number.isInteger(id)) return;
    const keep = this.nearBottom();
    this.deletedIds.add(id);
    const item = this.byId.get(id);
    const shownSeq = item ? Number(item.dataset.seq) : seq;
    if (item && this.bySeq.get(shownSeq) === item) this.release(shownSeq);
    this.byId.delete(id);
    markRepliesDeleted(this.list, id); // replies to it show "deleted message"
    if (keep) this.scrollToBottom();
    this.viewChanged();
  }

  // Retention deleted every message below `before` (room.trimmed): drop them as if deleted.
  // A thread root kept for its replies comes back as a deleted root with the next page.
  trim(before) {
    for (const [id, item] of [...this.byId]) {
      const seq = Number(item.dataset.seq);
      if (seq < before) this.remove(id, seq);
    }
  }

  // The outbox's lines (outboxlines.js): settled by the saved message, however it came.
  settle(message) {
    this.outbox.settle(message);
  }

  showPending(entry) {
    if (this.newerFrom !== null) this.jumpToLatest(); // one's own message: back to the present
    this.outbox.showPending(entry);
  }

  markFailed(clientId, detail) {
    this.outbox.markFailed(clientId, detail);
  }

  // A user-visible placeholder while an image uploads; returns a function removing it.
  showUpload(name) {
    const keep = this.nearBottom();
    const done = this.outbox.showUpload(name);
    if (keep) this.scrollToBottom();
    return done;
  }

  // --- the "New messages" line -----------------------------------------------------------

  clearMarker() {
    if (this.marker) this.marker.remove();
    this.marker = null;
  }

  // Put the line above the first message after readSeq that someone else wrote; true
  // when there is one.
  placeMarker(readSeq) {
    this.clearMarker();
    const username = this.requests.username();
    const at = this.seqs.findIndex((seq) => seq > readSeq);
    if (at < 0) return false;
    const others = this.seqs.slice(at).some((seq) => {
      const item = this.bySeq.get(seq);
      return !item.classList.contains("own");
    });
    if (!others || username === "") return false;
    const marker = document.createElement("li");
    marker.className = "new-marker";
    marker.append(span("new-label", "New messages"));
    this.list.insertBefore(marker, this.bySeq.get(this.seqs[at]));
    this.marker = marker;
    return true;
  }

  // Show this message, reading it and its neighbours first if it is not held. With the
  // newest released, what is held goes: the context read starts afresh (afterAround).
  jumpTo(seq) {
    if (this.newerFrom !== null && !this.bySeq.has(seq) && this.loaded) {
      [...this.seqs].forEach((s) => this.release(s));
      this.newerFrom = null;
      this.paging.contextFresh = true;
    }
    this.context.jumpTo(seq);
  }

  // On opening: a message asked for (jumpTo), else the "New messages" line in view (near
  // the top), else the newest message.
  scrollForOpen() {
    relabelDays(this.list);
    if (this.context.onOpened()) {
      this.scrollToBottom(); // not at the top meanwhile: that would page back to the start
      return;
    }
    if (this.marker && !this.wantBottom) {
      const offset = this.marker.offsetTop - this.list.offsetTop - this.list.clientHeight / 4;
      this.list.scrollTop = Math.max(0, offset);
    } else {
      this.scrollToBottom();
    }
    this.wantBottom = false;
  }

  // --- history (paging.js) ---------------------------------------------------------------
  load(lastSeq) {
    this.paging.load(lastSeq);
  }

  maybeLoadOlder() {
    this.paging.maybeLoadOlder();
  }

  onHistory(messages, tag) {
    return this.paging.onHistory(messages, tag);
  }

  onFetchFailed(tag, retryable) {
    this.paging.onFetchFailed(tag, retryable);
  }

  onHello(resumed, lastSeq) {
    this.paging.onHello(resumed, lastSeq);
  }

  // The socket went down: unanswered fetches will never be answered.
  onDown() {
    this.loading = false;
    this.olderLoading = false;
    this.newerLoading = false;
    this.gapLoading = false;
    this.context.asking = this.context.filling = false;
    this.edits.settleAll();
  }

  clearAll() {
    this.observer.disconnect();
    this.list.querySelectorAll(":scope > li:not(.outbox)").forEach((li) => li.remove());
    this.seqs = [];
    this.bySeq.clear();
    this.byId.clear();
    this.inView.clear();
    this.marker = null;
    this.loaded = false;
    this.loading = false;
    this.cursor = null;
    this.gaps = [];
    this.pendingGap = null;
    this.olderExhausted = false;
    this.newerFrom = null;
    this.newerLoading = false;
    this.context.reset();
    this.outbox.redecorate();
  }

  // Access to the room is gone: nothing of one's own can be changed any more.
  freeze() {
    this.edits.freeze();
  }

  changeFailed(tag) {
    this.edits.changeFailed(tag);
  }
}
