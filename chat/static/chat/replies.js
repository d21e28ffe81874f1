// Replies: a message's Reply button sets the "replying to" bar above the composer (its
// cancel button or Escape clears it; a send takes it), and a reply's quote jumps to the
// original, read with its neighbours first when it is not loaded (Timeline.jumpTo). It
// sends nothing itself: the timeline and composer do.

const EXCERPT_CHARS = 100; // as the server's reply_to.excerpt

export class Replies {
  // page: current() -> slug, timeline(slug) -> Timeline | undefined, canWrite(slug),
  // name(username) -> the name to show.
  constructor(page, elements) {
    this.page = page;
    this.el = elements; // root (holds the message lists), bar, author, excerpt, cancel, input
    this.target = null; // {slug, id, author, excerpt}
    elements.root.addEventListener("click", (event) => this.onClick(event));
    elements.cancel.addEventListener("click", () => this.cancel(true));
    elements.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.target && this.target.slug === this.page.current()) {
        event.preventDefault();
        this.cancel(true);
      }
    });
  }

  onClick(event) {
    const button = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    const item = button && button.closest("li.message");
    if (!item || !this.el.root.contains(item)) return;
    if (button.dataset.action === "reply") this.start(item);
    else if (button.dataset.action === "jump") this.jump(this.page.current(), Number(button.dataset.replySeq));
  }

  start(item) {
    const slug = this.page.current();
    const id = Number(item.dataset.id);
    if (!slug || !Number.isInteger(id) || !this.page.canWrite(slug)) return;
    const body = item.querySelector(":scope > .body");
    const text = body ? (body.dataset.source ?? body.textContent) : "";
    const line = text.split(/\s+/).filter(Boolean).join(" ");
    const excerpt = line.length > EXCERPT_CHARS ? `${line.slice(0, EXCERPT_CHARS - 1)}…` : line;
    const author = item.dataset.author || "";
    this.target = { slug, id, author, excerpt };
    this.render();
    this.el.input.focus();
  }

  cancel(focus) {
    this.target = null;
    this.render();
    if (focus && !this.el.input.disabled) this.el.input.focus();
  }

  // The id a send in `slug` answers (and the bar is cleared), or null.
  take(slug) {
    if (!this.target || this.target.slug !== slug) return null;
    const id = this.target.id;
    this.cancel(false);
    return id;
  }

  // The bar shows the reply being written in the room shown (if it can still be written).
  render() {
    const slug = this.page.current();
    const target = this.target;
    const shown = Boolean(target && target.slug === slug && this.page.canWrite(slug));
    this.el.bar.hidden = !shown;
    if (!shown) return;
    this.el.author.textContent = target.author ? this.page.name(target.author) : "announcement";
    this.el.excerpt.textContent = target.excerpt;
  }

  // Scroll to message `seq` of the room shown and mark it; when it is not loaded, the
  // timeline reads the messages around it first (context.js).
  jump(slug, seq) {
    const timeline = slug && this.page.timeline(slug);
    if (timeline && Number.isInteger(seq) && seq > 0) timeline.jumpTo(seq);
  }
}
