// The composer's `:` completion: typing ":ta" lists the emoji whose names match (from
// the lazily imported table, emojipicker.js); arrows move, Enter or Tab put the emoji in
// place of ":ta", Escape closes (completionlist.js). A typed ":tada:" needs no list: the
// server renders it. The matching rules are emojisearch.js's.

import { CompletionList } from "./completionlist.js";
import { loadEmojiTable, rememberEmoji } from "./emojipicker.js";
import { bestName, completionAt, searchEmoji } from "./emojisearch.js";

const SHOWN_MAX = 8;

// els: input (the composer's textarea), list (<ul>).
export class EmojiCompletion {
  constructor(els) {
    this.input = els.input;
    this.token = null; // {start, prefix} while completing
    this.list = new CompletionList(els.input, els.list, {
      renderOption: (item, option) => {
        const char = document.createElement("span");
        char.className = "emoji-char";
        char.textContent = option.char;
        item.append(char, ` :${option.name}:`);
      },
      choose: (option) => this.choose(option),
      closed: () => {
        this.token = null;
      },
    });
    this.input.addEventListener("input", () => this.onInput());
  }

  async onInput() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const token = completionAt(this.input.value.slice(0, caret));
    if (!token) {
      this.list.close();
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
    const found = searchEmoji(table.all, token.prefix, SHOWN_MAX);
    this.list.show(found.map((entry) => ({ char: entry.char, name: bestName(entry, token.prefix) })));
  }

  choose(option) {
    if (!this.token) return;
    const { start } = this.token;
    const caret = this.input.selectionStart ?? this.input.value.length;
    this.input.value = this.input.value.slice(0, start) + option.char + this.input.value.slice(caret);
    const at = start + option.char.length;
    this.input.setSelectionRange(at, at);
    rememberEmoji(option.char);
    this.list.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft and typing follow
  }
}
