// "Jump to latest": a button over the bottom of the list shown while the room shown is
// scrolled up, with how many new messages lie below (newer than both the view and the
// read pointer: what was already read before scrolling up is not counted again). A click goes to the end (the
// read pointer follows what comes into view, as reading.js does for any scroll).

const SHOW_AFTER_PX = 200; // scrolled up at least this far from the end
const MAX_SHOWN = 99; // "99+" past this

export class JumpLatest {
  // page: current() -> slug; timeline(slug) -> Timeline | undefined.
  constructor(button, page) {
    this.button = button;
    this.page = page;
    this.count = button.querySelector(".jump-count");
    button.addEventListener("click", () => {
      const timeline = this.page.timeline(this.page.current());
      if (!timeline) return;
      timeline.jumpToLatest();
      timeline.list.focus({ preventScroll: true });
      this.render();
    });
  }

  // The room `slug`'s view changed (scroll, a message, a room switch).
  update(slug) {
    if (slug === this.page.current()) this.render();
  }

  render() {
    const timeline = this.page.timeline(this.page.current());
    let shown = false;
    let newer = 0;
    if (timeline && timeline.loaded && timeline.list.isConnected) {
      const list = timeline.list;
      const away = list.scrollHeight - list.scrollTop - list.clientHeight;
      shown = timeline.newerFrom !== null || away > SHOW_AFTER_PX;
      if (shown) newer = timeline.newerCount();
    }
    this.button.hidden = !shown;
    if (!shown) return;
    const text = newer > MAX_SHOWN ? `${MAX_SHOWN}+` : String(newer);
    this.count.textContent = newer ? text : "";
    this.button.dataset.count = String(newer);
    this.button.setAttribute(
      "aria-label",
      newer ? `Jump to latest: ${newer} new message${newer === 1 ? "" : "s"}` : "Jump to latest"
    );
  }
}
