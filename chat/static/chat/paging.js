// The timeline's history: the opening page, scrollback ("older"), gap pages after a
// resume, and the bounded DOM: past MAX_HELD saved messages the ones far from the view
// are released (the oldest when reading down, the newest when scrolling back), and read
// again with history.fetch when scrolled back to ("older" above, "newer" below). State
// stays on the Timeline (other modules read loaded, cursor, seqs); this module only
// decides and asks. It never sends itself: the timeline's `requests` do.

export const OLDER_PAGE = 50; // scrollback page size
export const GAP_PAGE = 100; // the protocol's largest history.fetch
export const MAX_HELD = 300; // saved messages kept in the DOM at most ...
export const TRIM_TO = 200; // ... cut back to this many when passed
const NEAR_EDGE_PX = 40;
const LOAD_MARGIN_PX = 600; // ask for the next page this far before the edge

export class Paging {
  constructor(timeline) {
    this.t = timeline;
    this.contextFresh = false; // a context jump started from an empty list (Timeline.jumpTo)
  }

  load(lastSeq) {
    const t = this.t;
    if (t.loaded || t.loading) return;
    t.loading = t.requests.fetch(t.slug, lastSeq + 1, OLDER_PAGE, "open");
    t.openedAt = lastSeq;
  }

  maybeLoadOlder() {
    const t = this.t;
    if (!t.loaded || t.olderLoading || t.olderExhausted || !t.seqs.length) return;
    if (t.seqs[0] <= 1) {
      t.olderExhausted = true;
      return;
    }
    if (!t.list.isConnected || t.list.scrollTop > Math.max(NEAR_EDGE_PX, this.margin())) return;
    t.olderLoading = t.requests.fetch(t.slug, t.seqs[0], OLDER_PAGE, "older");
  }

  // Released newer messages are read again when the bottom comes near.
  maybeLoadNewer() {
    const t = this.t;
    if (t.newerFrom === null || t.newerLoading || !t.list.isConnected) return;
    const list = t.list;
    if (list.scrollHeight - list.scrollTop - list.clientHeight > Math.max(NEAR_EDGE_PX, this.margin())) return;
    t.newerLoading = t.requests.fetchAt(t.slug, { after: t.newerFrom }, OLDER_PAGE, "newer");
  }

  // A page ahead of the edge (about a screen), so scrolling does not wait on the network.
  margin() {
    return Math.min(LOAD_MARGIN_PX, this.t.list.clientHeight);
  }

  fillGaps() {
    const t = this.t;
    if (t.gapLoading || !t.gaps.length) return;
    t.gapLoading = t.requests.fetch(t.slug, t.gaps[0].high, GAP_PAGE, "gap");
  }

  // A history frame answering one of the timeline's fetches; true for a fresh opening.
  onHistory(messages, tag) {
    const t = this.t;
    if (tag.purpose === "around" || tag.purpose === "forward") {
      t.context.onHistory(messages, tag);
      this.afterAround(messages, tag);
      return false;
    }
    if (tag.purpose === "open") {
      t.loading = false;
      const fresh = !t.loaded;
      t.loaded = true;
      messages.forEach((m) => t.insert(m));
      // Everything up to the seq the stream started after is held now, and the stream
      // delivered the rest.
      const top = t.seqs.length ? t.seqs[t.seqs.length - 1] : 0;
      t.cursor = Math.max(t.cursor ?? 0, tag.before - 1, top);
      if (messages.length < tag.limit) t.olderExhausted = true;
      return fresh;
    }
    if (tag.purpose === "newer") {
      t.newerLoading = false;
      if (t.newerFrom === null) return false; // a jump to the latest came first
      const last = messages.length ? messages[messages.length - 1].seq : t.newerFrom;
      const done = messages.length < tag.limit || (t.cursor !== null && last >= t.cursor);
      t.newerFrom = done ? null : last; // before inserting: insert() holds up to it
      messages.forEach((m) => t.insert(m));
      this.releaseOldest();
      t.viewChanged();
      this.maybeLoadNewer();
      return false;
    }
    t.insertKeepingView(messages);
    if (tag.purpose === "gap") {
      t.gapLoading = false;
      const gap = t.gaps[0];
      if (gap) {
        const lowest = messages.length ? messages[0].seq : gap.low;
        if (messages.length < tag.limit || lowest <= gap.low + 1) t.gaps.shift();
        else gap.high = lowest;
      }
      this.fillGaps();
    } else {
      t.olderLoading = false;
      if (messages.length < tag.limit) t.olderExhausted = true;
      this.releaseNewest();
    }
    this.maybeLoadOlder(); // still at the top, or the list does not fill its box yet
    return false;
  }

  onFetchFailed(tag, retryable) {
    const t = this.t;
    if (tag.purpose === "around" || tag.purpose === "forward") {
      t.context.onFetchFailed(tag);
    } else if (tag.purpose === "open") {
      t.loading = false;
    } else if (tag.purpose === "gap") {
      t.gapLoading = false;
      if (!retryable) t.gaps.shift();
      setTimeout(() => this.fillGaps(), 2000);
    } else if (tag.purpose === "newer") {
      t.newerLoading = false; // the next scroll towards the bottom tries again
    } else {
      t.olderLoading = false; // the next scroll to the top tries again
      if (!retryable) t.olderExhausted = true;
    }
  }

  // Scrolled back past MAX_HELD: the newest messages (below the view, far from it) go;
  // scrolling down reads them again ("newer"). Not while a context jump's hole is open.
  releaseNewest() {
    const t = this.t;
    if (t.seqs.length <= MAX_HELD || t.context.hole) return;
    const bottom = t.list.getBoundingClientRect().bottom;
    const drop = [];
    for (let i = t.seqs.length - 1; i >= TRIM_TO; i--) {
      const item = t.bySeq.get(t.seqs[i]);
      if (item.getBoundingClientRect().top < bottom + this.margin()) break; // near the view
      drop.push(t.seqs[i]);
    }
    if (!drop.length) return;
    drop.forEach((seq) => t.release(seq));
    t.newerFrom = t.seqs[t.seqs.length - 1];
    t.viewChanged();
  }

  // Reading down (or live) past MAX_HELD: the oldest go, the view kept where it is;
  // scrolling up reads them again ("older").
  releaseOldest() {
    const t = this.t;
    if (t.seqs.length <= MAX_HELD || t.context.hole) return;
    const top = t.list.getBoundingClientRect().top;
    const drop = [];
    for (let i = 0; i < t.seqs.length - TRIM_TO; i++) {
      const item = t.bySeq.get(t.seqs[i]);
      if (item.getBoundingClientRect().bottom > top - this.margin()) break; // near the view
      drop.push(t.seqs[i]);
    }
    if (!drop.length) return;
    const fromBottom = t.list.scrollHeight - t.list.scrollTop;
    drop.forEach((seq) => t.release(seq));
    t.list.scrollTop = t.list.scrollHeight - fromBottom;
    t.olderExhausted = false;
  }

  // How many saved messages are new below the view: newer than what is in view and
  // than the read pointer (released ones counted by seq in a room, a deleted one among
  // them too).
  newerCount() {
    const t = this.t;
    if (!t.loaded) return 0;
    const from = Math.max(t.highestInView(), t.requests.readSeq ? t.requests.readSeq() : 0);
    let lo = 0;
    let hi = t.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t.seqs[mid] <= from) lo = mid + 1;
      else hi = mid;
    }
    let count = t.seqs.length - lo;
    // A thread's replies are not consecutive seqs of the room: released ones go uncounted.
    if (t.newerFrom !== null && t.cursor !== null && !t.requests.inThread) {
      count += Math.max(0, t.cursor - Math.max(from, t.newerFrom));
    }
    return count;
  }

  // "Jump to latest": at the end of the list (reading it marks it read, as any scroll
  // does); when the newest were released, the newest page is read again first.
  jumpToLatest() {
    const t = this.t;
    if (t.newerFrom === null) {
      t.scrollToBottom();
      t.viewChanged();
      return;
    }
    const cursor = t.cursor ?? 0;
    t.clearAll();
    t.wantBottom = true;
    t.load(cursor);
    t.viewChanged();
  }

  // After a context read that started from an empty list: what lies after it is released.
  afterAround(messages, tag) {
    const t = this.t;
    if (tag.purpose !== "around" || !this.contextFresh) return;
    this.contextFresh = false;
    const last = t.seqs.length ? t.seqs[t.seqs.length - 1] : null;
    if (last !== null && t.cursor !== null && last < t.cursor) t.newerFrom = last;
    t.olderExhausted = t.seqs.length > 0 && t.seqs[0] <= 1;
    t.viewChanged();
  }

  // A message of the room's stream that its list does not show (a reply kept in its
  // thread): the cursor (for ?after=) and a pending resume gap move past it all the same.
  passOver(seq) {
    const t = this.t;
    if (!Number.isInteger(seq)) return;
    if (t.pendingGap !== null) {
      if (seq > t.pendingGap + 1 && t.newerFrom === null) t.gaps.push({ low: t.pendingGap, high: seq });
      t.pendingGap = null;
      this.fillGaps();
    }
    if (t.cursor !== null) t.cursor = Math.max(t.cursor, seq);
  }

  // A new hello. `resumed` is the room's hello entry field (or undefined); lastSeq where
  // its stream now starts.
  onHello(resumed, lastSeq) {
    const t = this.t;
    if (!t.loaded) {
      t.clearAll(); // nothing held: start over from the newest page
      return;
    }
    if (resumed && resumed.complete === false && Number.isInteger(resumed.after)) {
      t.pendingGap = resumed.after; // closed by the first backlog message frame
    } else if (!resumed && t.cursor !== null && lastSeq > t.cursor) {
      if (t.newerFrom === null) t.gaps.push({ low: t.cursor, high: lastSeq + 1 }); // not resumed: read it
      t.cursor = lastSeq;
    }
    this.fillGaps();
  }
}
