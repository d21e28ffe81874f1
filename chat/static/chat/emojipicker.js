// The emoji picker: one popup with a search box and a grid of emoji, recently used
// first, for the composer (any emoji, inserted at the caret) and for reactions (only
// the server's set). Keyboard: type to search, arrows move, Enter picks, Tab moves
// between the box and the grid, Escape closes; focus goes back to what opened it. The
// table (emojidata.js, ~80 kB) is imported the first time a picker opens, not with the page.

import { emojiKey, reactionEntries, readTable, recentAfter, searchEmoji } from "./emojisearch.js";

const RECENT_KEY = "chat:emoji-recent";
const COLUMNS = 8; // the grid's width in emoji (emoji.css sizes the cells to it)
const NARROW_PX = 480; // below this the picker is a sheet along the bottom edge
const GAP_PX = 6;
const RESULTS_MAX = 240; // a search shows at most this many (one letter matches hundreds)

let tablePromise = null;

// {all, reactions} entries ({char, names}), imported once.
export function loadEmojiTable() {
  if (!tablePromise) {
    tablePromise = import("./emojidata.js").then((data) => {
      const all = readTable(data.EMOJI);
      return { all, reactions: reactionEntries(all, data.REACTIONS) };
    });
    tablePromise.catch(() => {
      tablePromise = null; // offline: the next open tries again
    });
  }
  return tablePromise;
}

function readRecent() {
  try {
    const list = JSON.parse(globalThis.localStorage?.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((c) => typeof c === "string") : [];
  } catch {
    return [];
  }
}

function writeRecent(list) {
  try {
    globalThis.localStorage?.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // full or refused: the list just does not persist
  }
}

// `char` was used: it leads the "Recently used" row from now on.
export function rememberEmoji(char) {
  writeRecent(recentAfter(readRecent(), char));
}

let shared = null;

// The page's one picker (opening it again elsewhere moves it).
export function emojiPicker() {
  if (!shared) shared = new EmojiPicker();
  return shared;
}

export class EmojiPicker {
  constructor() {
    this.el = document.createElement("div");
    this.el.className = "emoji-picker";
    this.el.id = "emoji-picker";
    this.el.setAttribute("role", "dialog");
    this.el.hidden = true;
    this.search = document.createElement("input");
    this.search.type = "search";
    this.search.className = "emoji-search";
    this.search.placeholder = "Search emoji";
    this.search.setAttribute("aria-label", "Search emoji by name");
    this.search.setAttribute("autocomplete", "off");
    this.grid = document.createElement("div");
    this.grid.className = "emoji-grid";
    this.grid.id = "emoji-picker-grid";
    this.grid.setAttribute("role", "listbox");
    this.grid.setAttribute("aria-label", "Emoji");
    this.search.setAttribute("aria-controls", this.grid.id);
    this.preview = document.createElement("p");
    this.preview.className = "emoji-preview";
    this.preview.setAttribute("aria-hidden", "true"); // the options carry their names
    this.el.append(this.search, this.grid, this.preview);
    document.body.append(this.el);
    this.shown = []; // entries in grid order (the recent ones, then the rest)
    this.active = -1;
    this.request = null; // {anchor, mode, onPick, returnFocus}
    this.search.addEventListener("input", () => this.render());
    this.el.addEventListener("keydown", (event) => this.onKey(event));
    this.grid.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.grid.addEventListener("click", (event) => {
      const option = event.target instanceof Element ? event.target.closest("[role=option]") : null;
      if (option) this.pick(Number(option.dataset.index));
    });
    this.grid.addEventListener("mouseover", (event) => {
      const option = event.target instanceof Element ? event.target.closest("[role=option]") : null;
      if (option) this.preview.textContent = `:${option.dataset.name}:`;
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen() && !this.el.contains(event.target) && !this.request.anchor.contains(event.target)) {
        this.close(false);
      }
    });
  }

  isOpen() {
    return !this.el.hidden;
  }

  // request: {anchor (element opened from; focus returns to it), mode "all" or
  // "reactions", label, onPick(char), returnFocus (where focus goes after a pick;
  // default anchor)}.
  async open(request) {
    if (this.isOpen()) {
      const again = this.request.anchor === request.anchor;
      this.close(again);
      if (again) return; // its button pressed again: a toggle
    }
    this.request = request;
    this.el.setAttribute("aria-label", request.label || "Pick an emoji");
    this.search.value = "";
    this.grid.replaceChildren(note("Loading emoji…"));
    this.el.hidden = false;
    request.anchor.setAttribute("aria-expanded", "true");
    this.place();
    this.search.focus();
    try {
      this.table = await loadEmojiTable();
    } catch {
      if (this.request === request) this.grid.replaceChildren(note("Emoji could not be loaded: try again."));
      return;
    }
    if (this.request !== request) return; // closed or moved meanwhile
    this.render();
  }

  // refocus: the button that opened it (Escape), or after a pick where the emoji went
  // (returnFocus: the composer), so typing goes on.
  close(refocus = true, picked = false) {
    if (!this.request) return;
    const { anchor, returnFocus } = this.request;
    this.el.hidden = true;
    this.request = null;
    anchor.setAttribute("aria-expanded", "false");
    this.search.removeAttribute("aria-activedescendant");
    if (refocus) focusBack((picked && returnFocus) || anchor);
  }

  place() {
    const narrow = window.innerWidth < NARROW_PX;
    this.el.classList.toggle("sheet", narrow);
    if (narrow) {
      this.el.style.left = this.el.style.top = "";
      return;
    }
    const rect = this.request.anchor.getBoundingClientRect();
    const width = this.el.offsetWidth;
    const height = this.el.offsetHeight;
    const left = Math.max(GAP_PX, Math.min(rect.right - width, window.innerWidth - width - GAP_PX));
    const above = rect.top - height - GAP_PX;
    const top = above >= GAP_PX ? above : Math.min(rect.bottom + GAP_PX, window.innerHeight - height - GAP_PX);
    this.el.style.left = `${Math.round(left)}px`;
    this.el.style.top = `${Math.round(Math.max(GAP_PX, top))}px`;
  }

  entries() {
    return this.request.mode === "reactions" ? this.table.reactions : this.table.all;
  }

  render() {
    if (!this.request || !this.table) return;
    const entries = this.entries();
    const query = this.search.value.trim();
    const sections = [];
    if (query) {
      sections.push(["Results", searchEmoji(entries, query, RESULTS_MAX)]);
    } else {
      const byKey = new Map(entries.map((e) => [emojiKey(e.char), e]));
      const recent = readRecent()
        .map((c) => byKey.get(emojiKey(c)))
        .filter(Boolean);
      if (recent.length) sections.push(["Recently used", recent]);
      sections.push([this.request.mode === "reactions" ? "Reactions" : "All emoji", entries]);
    }
    this.shown = [];
    const groups = sections.map(([label, list]) => {
      const group = document.createElement("div");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", label);
      group.dataset.label = label;
      group.append(...list.map((entry) => this.option(entry)));
      return group;
    });
    this.grid.replaceChildren(...groups);
    if (!this.shown.length) this.grid.append(note(`No emoji named “${query}”.`));
    this.setActive(this.shown.length ? 0 : -1, false);
  }

  option(entry) {
    const index = this.shown.length;
    this.shown.push(entry);
    const el = document.createElement("button");
    el.type = "button";
    el.className = "emoji-option";
    el.id = `emoji-picker-option-${index}`;
    el.tabIndex = -1;
    el.setAttribute("role", "option");
    el.setAttribute("aria-selected", "false");
    el.setAttribute("aria-label", entry.names[entry.names.length > 1 ? 1 : 0].replace(/_/g, " "));
    el.dataset.index = String(index);
    el.dataset.name = entry.names[0];
    el.dataset.emoji = entry.char;
    el.title = `:${entry.names.join(": :")}:`;
    el.textContent = entry.char;
    return el;
  }

  setActive(index, focusIt) {
    const old = this.grid.querySelector('[aria-selected="true"]');
    if (old) {
      old.setAttribute("aria-selected", "false");
      old.tabIndex = -1;
    }
    this.active = index;
    const el = index >= 0 ? document.getElementById(`emoji-picker-option-${index}`) : null;
    if (!el) {
      this.search.removeAttribute("aria-activedescendant");
      this.preview.textContent = "";
      return;
    }
    el.setAttribute("aria-selected", "true");
    el.tabIndex = 0; // Tab from the search box lands here
    this.search.setAttribute("aria-activedescendant", el.id);
    this.preview.textContent = `${el.dataset.emoji} :${el.dataset.name}:`;
    el.scrollIntoView({ block: "nearest" });
    if (focusIt) el.focus();
  }

  onKey(event) {
    const inGrid = event.target !== this.search;
    const count = this.shown.length;
    const moves = { ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (inGrid) Object.assign(moves, { ArrowRight: 1, ArrowLeft: -1 });
    if (event.key === "Escape") {
      this.close(true);
    } else if (event.key in moves && count) {
      const next = this.active + moves[event.key];
      this.setActive(Math.max(0, Math.min(count - 1, next)), inGrid);
    } else if (inGrid && (event.key === "Home" || event.key === "End") && count) {
      this.setActive(event.key === "Home" ? 0 : count - 1, true);
    } else if (event.key === "Enter" || (inGrid && event.key === " ")) {
      if (this.active >= 0) this.pick(this.active);
    } else if (event.key === "Tab") {
      // Two stops, the box and the grid's active emoji; focus stays in the picker.
      const option = document.getElementById(`emoji-picker-option-${this.active}`);
      if (inGrid || !option) this.search.focus();
      else option.focus();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  pick(index) {
    const entry = this.shown[index];
    if (!entry || !this.request) return;
    const { onPick } = this.request;
    rememberEmoji(entry.char);
    this.close(true, true);
    onPick(entry.char);
  }
}

// Focus `target`; a button shown only while its container holds the focus (a message's
// action bar) cannot take it until the container has it, so that goes first.
function focusBack(target) {
  target.focus({ preventScroll: true });
  if (document.activeElement === target) return;
  const holder = target.parentElement?.closest("[tabindex]");
  if (!holder) return;
  holder.focus({ preventScroll: true });
  target.focus({ preventScroll: true });
}

function note(text) {
  const el = document.createElement("p");
  el.className = "emoji-note";
  el.textContent = text;
  return el;
}
