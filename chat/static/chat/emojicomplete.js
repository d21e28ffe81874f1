// The composer's `:` completion: typing ":ta" lists the emoji whose names match (from
// the lazily imported table, emojipicker.js); arrows move, Enter or Tab put the emoji in
// place of ":ta", Escape closes. A typed ":tada:" needs no list: the server renders it.
// The matching rules are emojisearch.js's.

import { loadEmojiTable, rememberEmoji } from "./emojipicker.js";
import { bestName, completionAt, searchEmoji } from "./emojisearch.js";

const SHOWN_MAX = 8;

// els: input (the composer's textarea), list (<ul>).
export class EmojiCompletion {
  constructor(els) {
    this.input = els.input;
    this.list = els.list;
    this.token = null; // {start, prefix} while completing
    this.options = [];
    this.active = -1;
    this.list.setAttribute("role", "listbox");
    const controls = this.input.getAttribute("aria-controls");
    this.input.setAttribute("aria-controls", controls ? `${controls} ${this.list.id}` : this.list.id);
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("keydown", (event) => this.onKey(event), true);
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const item = event.target instanceof Element ? event.target.closest("[role=option]") : null;
      if (item) this.choose(Number(item.dataset.index));
    });
  }

  async onInput() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const token = completionAt(this.input.value.slice(0, caret));
    if (!token) {
      this.close();
      return;
    }
    this.token = token;
    let table;
    try {
      table = await loadEmojiTable();
    } catch {
      return; // offline: no list; what is typed stays as typed
    }
    if (this.token !== token) return; // typed on meanwhile
    this.options = searchEmoji(table.all, token.prefix, SHOWN_MAX).map((entry) => ({
      char: entry.char,
      name: bestName(entry, token.prefix),
    }));
    this.active = this.options.length ? 0 : -1;
    this.render();
  }

  render() {
    this.list.replaceChildren();
    this.options.forEach((option, index) => {
      const item = document.createElement("li");
      item.id = `${this.list.id}-${index}`;
      item.setAttribute("role", "option");
      item.dataset.index = String(index);
      item.setAttribute("aria-selected", String(index === this.active));
      const char = document.createElement("span");
      char.className = "emoji-char";
      char.textContent = option.char;
      item.append(char, ` :${option.name}:`);
      this.list.append(item);
    });
    const open = this.options.length > 0;
    this.list.hidden = !open;
    if (open && this.active >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
    else if (this.input.getAttribute("aria-activedescendant")?.startsWith(this.list.id)) {
      this.input.removeAttribute("aria-activedescendant");
    }
  }

  onKey(event) {
    if (this.list.hidden || !this.options.length) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      this.active = (this.active + moves[event.key] + this.options.length) % this.options.length;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // Enter picks an emoji; it does not send
  }

  choose(index) {
    const option = this.options[index];
    if (!option || !this.token) return;
    const { start } = this.token;
    const caret = this.input.selectionStart ?? this.input.value.length;
    this.input.value = this.input.value.slice(0, start) + option.char + this.input.value.slice(caret);
    const at = start + option.char.length;
    this.input.setSelectionRange(at, at);
    rememberEmoji(option.char);
    this.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft and typing follow
  }

  close() {
    this.token = null;
    this.options = [];
    this.active = -1;
    this.render();
  }
}
