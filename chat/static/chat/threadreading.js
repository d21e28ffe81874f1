// Reading a thread: the replies that were on screen in the panel while the tab was
// visible move the thread's read pointer (reading.js's rule for rooms), with thread.read
// at most every READ_DEBOUNCE_MS; what is pending goes out when the page is left.

const READ_DEBOUNCE_MS = 400;

export class ThreadReading {
  // page: conn, states (ThreadStates), panel (ThreadPanel), visible() -> the panel is
  // on screen (not covered, not closed).
  constructor(page) {
    this.page = page;
    this.timer = null;
    this.pending = null; // {room, root, seq} to send
    document.addEventListener("visibilitychange", () => this.soon());
    window.addEventListener("pagehide", () => this.send());
  }

  soon() {
    const { panel, states } = this.page;
    if (!panel.isOpen() || !panel.timeline || !panel.timeline.loaded) return;
    if (document.visibilityState !== "visible" || !this.page.visible()) return;
    const seq = states.markRead(panel.slug, panel.root, panel.timeline.highestInView());
    if (seq === null) return;
    if (this.pending && this.pending.root !== panel.root) this.send(); // another thread's, first
    this.pending = { room: panel.slug, root: panel.root, seq };
    if (this.timer === null) this.timer = setTimeout(() => this.send(), READ_DEBOUNCE_MS);
  }

  send() {
    clearTimeout(this.timer);
    this.timer = null;
    const read = this.pending;
    this.pending = null;
    if (!read) return;
    const frame = { type: "thread.read", room: read.room, root: read.root, seq: read.seq };
    this.page.conn.send(frame, { kind: "thread", room: read.room, root: read.root });
  }
}
