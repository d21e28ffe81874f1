// Read tracking: the read pointer moves for messages that were on screen while the tab
// was visible (and not covered by a full-screen panel: a thread on a phone), not for
// messages merely received; room.read goes at most every
// READ_DEBOUNCE_MS per room, and what is pending goes out when the page is left.

const READ_DEBOUNCE_MS = 400;

export class ReadTracker {
  // current() -> the slug of the room shown; covered() -> its list is hidden behind a panel.
  constructor({ store, conn, timelines, current, covered = () => false }) {
    this.store = store;
    this.conn = conn;
    this.timelines = timelines;
    this.current = current;
    this.covered = covered;
    this.timers = new Map(); // slug -> debounce timer of room.read
    document.addEventListener("visibilitychange", () => this.soon(this.current()));
    // Leaving the page (a link, a reload) must not lose what was read in the last moments.
    window.addEventListener("pagehide", () => [...this.timers.keys()].forEach((slug) => this.send(slug)));
  }

  soon(slug) {
    if (slug !== this.current() || document.visibilityState !== "visible" || this.covered()) return;
    const room = this.store.get(slug);
    const timeline = this.timelines.get(slug);
    if (!room || !room.joined || room.lost || !timeline || !timeline.loaded) return;
    const top = timeline.highestInView();
    if (!this.store.markRead(slug, top)) return;
    if (this.timers.has(slug)) return;
    this.timers.set(slug, setTimeout(() => this.send(slug), READ_DEBOUNCE_MS));
  }

  send(slug) {
    clearTimeout(this.timers.get(slug));
    this.timers.delete(slug);
    const now = this.store.get(slug);
    if (now && now.joined) this.conn.send({ type: "room.read", room: slug, seq: now.readSeq });
  }
}
