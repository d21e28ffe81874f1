// Opening a room at a message that is not loaded (a search result, an old mention): the
// messages around it are read (history.fetch "around") and shown above the live part of
// the timeline, with a hole between the two. Scrolling down towards the hole reads it
// forward ("after") a page at a time until it closes, so reaching the present joins the
// live stream without a gap. At most one hole: a new jump drops the previous context.
// It never sends itself: the timeline's `requests.fetchAt` does.

const FORWARD_PAGE = 100; // the protocol's largest history.fetch
const CONTEXT_PAGE = 50;
const FILL_MARGIN_PX = 300; // read the hole when its edge is this close to the view
const RETRY_MS = 1000;
const MAX_TRIES = 20;

export class ContextJump {
  constructor(timeline) {
    this.timeline = timeline;
    this.hole = null; // {low, high}: held up to low and from high on; low < seq < high missing
    this.pending = null; // the seq to show once the opening page has arrived
    this.asking = false;
    this.filling = false;
    this.tries = 0;
  }

  reset() {
    this.setHole(null);
    this.asking = false;
    this.filling = false;
  }

  // Show the message with this seq: at once if held, else read around it.
  jumpTo(seq) {
    const t = this.timeline;
    if (t.bySeq.has(seq)) {
      this.pending = null;
      t.reveal(seq);
      return;
    }
    this.pending = seq;
    if (!t.loaded || this.asking) return; // onOpened or the answer in flight comes back here
    this.asking = t.requests.fetchAt(t.slug, { around: seq }, CONTEXT_PAGE, "around");
    if (!this.asking && ++this.tries < MAX_TRIES) setTimeout(() => this.jumpTo(seq), RETRY_MS);
  }

  // The opening page arrived: true when a jump takes over the opening scroll.
  onOpened() {
    if (this.pending === null) return false;
    this.jumpTo(this.pending);
    return true;
  }

  onHistory(messages, tag) {
    const t = this.timeline;
    if (tag.purpose === "around") {
      this.asking = false;
      const seq = tag.around;
      // The live part starts at the hole's top, or at the lowest message held now.
      const high = this.hole ? this.hole.high : t.seqs.length ? t.seqs[0] : null;
      if (this.hole) this.dropBelow(this.hole.high); // the previous context goes
      messages.forEach((m) => t.insert(m));
      const last = messages.length ? messages[messages.length - 1].seq : seq;
      const joined = high === null || messages.some((m) => m.seq >= high) || last + 1 >= high;
      this.setHole(joined ? null : { low: last, high });
      t.olderExhausted = messages.length > 0 && messages[0].seq <= 1;
      this.pending = null;
      if (!t.reveal(seq) && messages.length) t.reveal(messages[0].seq); // deleted since
      this.maybeFill();
      return;
    }
    // "forward": the next page of the hole.
    this.filling = false;
    if (!this.hole) return;
    // Scrolled past the hole (down to the present): what fills it goes above the view,
    // which must not move.
    const edge = this.edgeItem();
    const above = edge && edge.getBoundingClientRect().bottom < t.list.getBoundingClientRect().top;
    if (above) t.insertKeepingView(messages);
    else messages.forEach((m) => t.insert(m));
    const last = messages.length ? messages[messages.length - 1].seq : this.hole.high;
    if (messages.length < tag.limit || last + 1 >= this.hole.high) this.setHole(null);
    else this.setHole({ low: last, high: this.hole.high });
    this.maybeFill();
  }

  onFetchFailed(tag) {
    if (tag.purpose === "around") {
      this.asking = false;
      this.pending = null;
    } else {
      this.filling = false;
      setTimeout(() => this.maybeFill(), RETRY_MS);
    }
  }

  // Scrolled (or a page arrived): read the hole when its upper edge is near the view.
  maybeFill() {
    const t = this.timeline;
    if (!this.hole || this.filling || !t.list.isConnected) return;
    const edge = this.edgeItem();
    if (!edge) return;
    const box = t.list.getBoundingClientRect();
    if (edge.getBoundingClientRect().bottom > box.bottom + FILL_MARGIN_PX) return;
    this.filling = t.requests.fetchAt(t.slug, { after: this.hole.low }, FORWARD_PAGE, "forward");
  }

  // The last message held above the hole (it wears the hole's mark).
  edgeItem() {
    const t = this.timeline;
    let item = null;
    for (const seq of t.seqs) {
      if (seq > this.hole.low) break;
      item = t.bySeq.get(seq);
    }
    return item;
  }

  setHole(hole) {
    if (this.hole) this.edgeItem()?.classList.remove("hole-below");
    this.hole = hole;
    if (hole) this.edgeItem()?.classList.add("hole-below");
  }

  // Forget the messages below `high` (the previous context) so only one hole exists.
  dropBelow(high) {
    const t = this.timeline;
    for (const seq of t.seqs.filter((s) => s < high)) {
      const item = t.bySeq.get(seq);
      t.observer.unobserve(item);
      item.remove();
      t.bySeq.delete(seq);
      t.inView.delete(seq);
      if (Number.isInteger(Number(item.dataset.id))) t.byId.delete(Number(item.dataset.id));
    }
    t.seqs = t.seqs.filter((s) => s >= high);
    this.setHole(null);
  }
}
