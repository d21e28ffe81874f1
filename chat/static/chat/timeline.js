// One room's message list: saved messages in seq order (each seq once), the outbox's
// pending and failed entries below them, the "New messages" line, scrollback and gap
// pages (history.fetch), and which messages are in view (for the read pointer). Each
// room keeps its own <ol>; the page shows one at a time. It never sends: the page passes
// `requests` for that. Drawing one message is message.js's; editing one is edits.js's.

import { ContextJump } from "./context.js";
import { span } from "./dom.js";
import { Edits } from "./edits.js";
import {
  fillBody,
  markEdited,
  markItemFailed,
  markRepliesDeleted,
  messageItem,
  pendingItem,
  refreshAuthors,
  uploadItem,
} from "./message.js";
import { isMention } from "./mentions.js";
import { ReactionClicks } from "./reactions.js";

const NEAR_EDGE_PX = 40;
export const OLDER_PAGE = 50; // scrollback page size
export const GAP_PAGE = 100; // the protocol's largest history.fetch

export class Timeline {
  // requests: fetch(slug, before, limit, purpose) -> bool; fetchAt(slug, {around} or
  // {after}, limit, purpose) -> bool; change(item, kind, frame) -> bool;
  // seen() (what is in view changed); username() -> string; profile(username) -> the
  // cached profile or null; maxBodyChars.
  constructor(slug, requests) {
    this.slug = slug;
    this.requests = requests;
    this.list = document.createElement("ol");
    this.list.className = "messages";
    this.list.tabIndex = 0; // scrollable by keyboard
    this.list.setAttribute("aria-label", "Messages");
    this.seqs = []; // seqs of the saved messages shown, ascending
    this.bySeq = new Map(); // seq -> <li>
    this.byId = new Map(); // message id -> <li>
    this.deletedIds = new Set(); // never shown again, even if a late frame carries one
    this.outboxEls = new Map(); // client_id -> <li> (pending or failed)
    this.loaded = false; // the opening page of history has arrived
    this.loading = false;
    this.cursor = null; // highest seq the stream delivered, once loaded (for ?after=)
    this.olderLoading = false;
    this.olderExhausted = false;
    this.gaps = []; // {low, high}: saved messages with low < seq < high still to fetch
    this.gapLoading = false;
    this.pendingGap = null; // after an incomplete resume: its `after`, until a frame comes
    this.scrollTop = null; // kept while another room is shown
    this.marker = null; // the "New messages" line
    this.inView = new Set(); // seqs of the messages on screen now
    this.observer = new IntersectionObserver((entries) => this.observed(entries), {
      root: this.list,
      threshold: [0, 0.5, 1],
    });
    this.context = new ContextJump(this); // a message opened in context, and the hole below it
    this.list.addEventListener(
      "scroll",
      () => {
        this.maybeLoadOlder();
        this.context.maybeFill();
      },
      { passive: true }
    );
    this.edits = new Edits(this.list, requests, (id) => this.byId.get(id));
    this.reactions = new ReactionClicks(this.list, requests);
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
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // --- rendering -------------------------------------------------------------------------

  // These users' profiles changed: their messages shown here follow.
  refreshAuthors(usernames) {
    refreshAuthors(this.list, usernames, (name) => this.requests.profile(name));
  }

  // Insert a saved message at its seq; a seq already shown is never shown twice. True
  // when it was added.
  insert(message) {
    if (!message || !Number.isInteger(message.seq)) return false;
    this.settle(message);
    if (this.deletedIds.has(message.id) || this.bySeq.has(message.seq)) return false;
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] < message.seq) lo = mid + 1;
      else hi = mid;
    }
    const item = messageItem(message, this.requests.username(), this.requests.profile(message.author));
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
    return true;
  }

  // A live (or resumed) message frame: shown, and the stream cursor follows it.
  live(message) {
    const keep = this.nearBottom();
    if (this.pendingGap !== null && Number.isInteger(message.seq)) {
      if (message.seq > this.pendingGap + 1) this.gaps.push({ low: this.pendingGap, high: message.seq });
      this.pendingGap = null;
      this.fillGaps();
    }
    this.insert(message);
    if (this.cursor !== null && Number.isInteger(message.seq)) {
      this.cursor = Math.max(this.cursor, message.seq);
    }
    if (keep) this.scrollToBottom();
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
    fillBody(body, message, this.requests.username());
    if (item.dataset.author !== this.requests.username()) {
      item.classList.toggle("mentions-me", isMention(message, this.requests.username()));
    }
    markEdited(item);
    this.edits.settleChange(item, "edit");
    if (keep) this.scrollToBottom();
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
    if (Number.isInteger(shownSeq) && this.bySeq.get(shownSeq) === item) {
      if (item) {
        this.observer.unobserve(item);
        item.remove();
      }
      this.bySeq.delete(shownSeq);
      this.inView.delete(shownSeq);
      const at = this.seqs.indexOf(shownSeq);
      if (at >= 0) this.seqs.splice(at, 1);
    }
    this.byId.delete(id);
    markRepliesDeleted(this.list, id); // replies to it show "deleted message"
    if (this.marker && !this.marker.nextElementSibling?.matches("li[data-seq]")) this.clearMarker();
    if (keep) this.scrollToBottom();
  }

  // A saved message from this user settles its outbox entry, however it arrived.
  settle(message) {
    if (message.author !== this.requests.username() || typeof message.client_id !== "string") return;
    const item = this.outboxEls.get(message.client_id);
    if (item) {
      item.remove();
      this.outboxEls.delete(message.client_id);
    }
    this.requests.settled(this.slug, message.client_id);
  }

  showPending(entry) {
    if (this.outboxEls.has(entry.client_id)) return;
    const item = pendingItem(entry, this.requests.username());
    this.list.append(item);
    this.outboxEls.set(entry.client_id, item);
  }

  markFailed(clientId, detail) {
    const item = this.outboxEls.get(clientId);
    if (!item || item.classList.contains("failed")) return;
    markItemFailed(item, detail, () => {
      item.remove();
      this.outboxEls.delete(clientId);
    });
  }

  // A user-visible placeholder while an image uploads; returns a function removing it.
  showUpload(name) {
    const item = uploadItem(name, this.requests.username());
    const keep = this.nearBottom();
    this.list.append(item);
    if (keep) this.scrollToBottom();
    return () => item.remove();
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

  // Show this message, reading it and its neighbours first if it is not held.
  jumpTo(seq) {
    this.context.jumpTo(seq);
  }

  // On opening: a message asked for (jumpTo), else the "New messages" line in view (near
  // the top), else the newest message.
  scrollForOpen() {
    if (this.context.onOpened()) {
      this.scrollToBottom(); // not at the top meanwhile: that would page back to the start
      return;
    }
    if (this.marker) {
      const offset = this.marker.offsetTop - this.list.offsetTop - this.list.clientHeight / 4;
      this.list.scrollTop = Math.max(0, offset);
    } else {
      this.scrollToBottom();
    }
  }

  // --- history: the opening page, scrollback and gaps ------------------------------------

  load(lastSeq) {
    if (this.loaded || this.loading) return;
    this.loading = this.requests.fetch(this.slug, lastSeq + 1, OLDER_PAGE, "open");
    this.openedAt = lastSeq;
  }

  maybeLoadOlder() {
    if (!this.loaded || this.olderLoading || this.olderExhausted || !this.seqs.length) return;
    if (this.seqs[0] <= 1) {
      this.olderExhausted = true;
      return;
    }
    if (!this.list.isConnected || this.list.scrollTop > NEAR_EDGE_PX) return;
    this.olderLoading = this.requests.fetch(this.slug, this.seqs[0], OLDER_PAGE, "older");
  }

  fillGaps() {
    if (this.gapLoading || !this.gaps.length) return;
    this.gapLoading = this.requests.fetch(this.slug, this.gaps[0].high, GAP_PAGE, "gap");
  }

  // A history frame answering one of this timeline's fetches.
  onHistory(messages, tag) {
    if (tag.purpose === "around" || tag.purpose === "forward") {
      this.context.onHistory(messages, tag);
      return false;
    }
    if (tag.purpose === "open") {
      this.loading = false;
      const fresh = !this.loaded;
      this.loaded = true;
      messages.forEach((m) => this.insert(m));
      // Everything up to the seq the stream started after is held now, and the stream
      // delivered the rest.
      const top = this.seqs.length ? this.seqs[this.seqs.length - 1] : 0;
      this.cursor = Math.max(this.cursor ?? 0, tag.before - 1, top);
      if (messages.length < tag.limit) this.olderExhausted = true;
      return fresh;
    }
    this.insertKeepingView(messages);
    if (tag.purpose === "gap") {
      this.gapLoading = false;
      const gap = this.gaps[0];
      if (gap) {
        const lowest = messages.length ? messages[0].seq : gap.low;
        if (messages.length < tag.limit || lowest <= gap.low + 1) this.gaps.shift();
        else gap.high = lowest;
      }
      this.fillGaps();
    } else {
      this.olderLoading = false;
      if (messages.length < tag.limit) this.olderExhausted = true;
    }
    this.maybeLoadOlder(); // still at the top, or the list does not fill its box yet
    return false;
  }

  onFetchFailed(tag, retryable) {
    if (tag.purpose === "around" || tag.purpose === "forward") {
      this.context.onFetchFailed(tag);
    } else if (tag.purpose === "open") {
      this.loading = false;
    } else if (tag.purpose === "gap") {
      this.gapLoading = false;
      if (!retryable) this.gaps.shift();
      setTimeout(() => this.fillGaps(), 2000);
    } else {
      this.olderLoading = false; // the next scroll to the top tries again
      if (!retryable) this.olderExhausted = true;
    }
  }

  // The socket went down: unanswered fetches will never be answered.
  onDown() {
    this.loading = false;
    this.olderLoading = false;
    this.gapLoading = false;
    this.context.asking = this.context.filling = false;
    this.edits.settleAll();
  }

  // A new hello. `resumed` is the room's hello entry field (or undefined); lastSeq where
  // its stream now starts.
  onHello(resumed, lastSeq) {
    if (!this.loaded) {
      // Nothing held: start over from the newest page.
      this.clearAll();
      return;
    }
    if (resumed && resumed.complete === false && Number.isInteger(resumed.after)) {
      this.pendingGap = resumed.after; // closed by the first backlog message frame
    } else if (!resumed && this.cursor !== null && lastSeq > this.cursor) {
      this.gaps.push({ low: this.cursor, high: lastSeq + 1 }); // not resumed: read it
      this.cursor = lastSeq;
    }
    this.fillGaps();
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
    this.context.reset();
  }

  // Access to the room is gone: nothing of one's own can be changed any more.
  freeze() {
    this.edits.freeze();
  }

  changeFailed(tag) {
    this.edits.changeFailed(tag);
  }
}
