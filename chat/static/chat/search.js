// The search box: a query (words, "phrases", in: from: before: after: has: is:) sent to
// GET /api/search/, its results listed with room, author, time and the matching words
// highlighted (plain text: the server drops the Markdown marks), more read on scroll,
// and a click opening the room at that message (a reply in a thread: the thread's panel
// at that reply). The highlight is the server's HTML
// (escaped text and <mark> only, docs/api.md); nothing else from a result is inserted
// as HTML.

import { messageLook } from "./botlook.js";
import { botBadge } from "./profiles.js";

const MORE_MARGIN_PX = 200;
const PAGE = 20;

export class SearchPanel {
  // page: open(slug, seq, thread) (thread: the root id of a reply, else null), roomName(slug) -> the page's label or null, name(username).
  constructor(page, els) {
    this.page = page;
    this.els = els; // form, input, sort, panel, list, status, close
    this.query = null; // {q, sort} of the results shown
    this.next = null; // cursor of the next page
    this.loading = false;
    this.serial = 0; // answers of a replaced search are dropped
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    els.sort.addEventListener("change", () => {
      if (this.query) this.search();
    });
    els.close.addEventListener("click", () => this.close());
    els.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    els.list.addEventListener("scroll", () => this.maybeMore(), { passive: true });
  }

  search() {
    const q = this.els.input.value.trim();
    if (!q) return;
    this.query = { q, sort: this.els.sort.value };
    this.next = null;
    this.serial += 1;
    this.loading = false;
    this.els.list.replaceChildren();
    this.els.panel.hidden = false;
    this.status("Searching…");
    this.load();
  }

  close() {
    this.els.panel.hidden = true;
    this.query = null;
    this.serial += 1;
    this.els.input.focus();
  }

  maybeMore() {
    const list = this.els.list;
    if (!this.next || this.loading) return;
    if (list.scrollHeight - list.scrollTop - list.clientHeight < MORE_MARGIN_PX) this.load();
  }

  async load() {
    if (!this.query || this.loading) return;
    this.loading = true;
    const serial = this.serial;
    const params = new URLSearchParams({ q: this.query.q, sort: this.query.sort, limit: String(PAGE) });
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) params.set("tz", zone);
    if (this.next) params.set("cursor", this.next);
    let body = null;
    let failed = "";
    try {
      const response = await fetch(`/api/search/?${params}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      body = await response.json().catch(() => null);
      if (!response.ok) {
        failed = (body && body.error && body.error.detail) || `Search failed (${response.status}).`;
      }
    } catch {
      failed = "Offline: try again once the page has reconnected.";
    }
    if (serial !== this.serial) return; // another search replaced this one
    this.loading = false;
    if (failed || !body || !Array.isArray(body.results)) {
      this.status(failed || "Search failed.");
      return;
    }
    body.results.forEach((result) => this.els.list.append(this.item(result)));
    this.next = typeof body.next === "string" ? body.next : null;
    const count = this.els.list.children.length;
    this.status(count ? `${count}${this.next ? "+" : ""} found` : "Nothing found.");
    this.maybeMore(); // the first page may not fill the panel
  }

  item(result) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "search-hit";
    button.dataset.room = result.room;
    button.dataset.seq = String(result.seq);
    const meta = document.createElement("span");
    meta.className = "hit-meta";
    const room = document.createElement("span");
    room.className = "hit-room";
    room.textContent = this.page.roomName(result.room) || result.room_name || result.room;
    const author = document.createElement("span");
    author.className = "hit-author";
    const look = messageLook(result); // a bot's hit: the name it posted with, and BOT
    author.textContent = look ? look.displayName : result.author ? this.page.name(result.author) : "system";
    if (look) author.append(" ", botBadge());
    const time = document.createElement("time");
    time.dateTime = result.created_at;
    time.textContent = new Date(result.created_at).toLocaleString();
    meta.append(room, author, time);
    const thread = Number.isInteger(result.thread) ? result.thread : null;
    if (thread !== null) meta.append(Object.assign(document.createElement("span"), { className: "hit-thread", textContent: "in a thread" }));
    const text = document.createElement("span");
    text.className = "hit-text";
    text.innerHTML = result.highlight; // escaped by the server; only <mark> is markup
    button.append(meta, text);
    button.addEventListener("click", () => this.page.open(result.room, result.seq, thread));
    li.append(button);
    return li;
  }

  status(text) {
    this.els.status.textContent = text;
  }
}
