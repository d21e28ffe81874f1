// The composer's @ completion: typing "@" and the start of a name lists matching members
// of the room (by username or display name, asked of the server with members.search),
// plus @here and @room; arrows move, Enter or Tab insert, Escape closes
// (completionlist.js).

import { CompletionList } from "./completionlist.js";
import { botBadge } from "./profiles.js";

const ASK_AFTER_MS = 120;
const TOKEN_BEFORE_CARET = /(?:^|[^\w@.+-])@([\w.@+-]{0,150})$/;
const GROUPS = [
  { username: "here", display_name: "members online now" },
  { username: "room", display_name: "every member of the room" },
];

// deps: send(frame, tag) -> bool, current() -> slug. els: input, list (<ul>).
export class MentionPicker {
  constructor(deps, els) {
    this.deps = deps;
    this.input = els.input;
    this.prefix = null; // what follows "@" before the caret, while completing
    this.timer = null;
    this.list = new CompletionList(els.input, els.list, {
      renderOption: (item, option) => {
        const name = document.createElement("strong");
        name.textContent = `@${option.username}`;
        item.append(name);
        const display = typeof option.display_name === "string" ? option.display_name : "";
        if (display && display !== option.username) item.append(` ${display}`);
        if (option.author_bot === true) item.append(" ", botBadge());
      },
      choose: (option) => this.choose(option),
      closed: () => {
        clearTimeout(this.timer);
        this.prefix = null;
      },
    });
    this.input.addEventListener("input", () => this.onInput());
  }

  onInput() {
    const before = this.input.value.slice(0, this.input.selectionStart ?? this.input.value.length);
    const match = TOKEN_BEFORE_CARET.exec(before);
    if (!match) {
      this.list.close();
      return;
    }
    this.prefix = match[1];
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const room = this.deps.current();
      this.deps.send({ type: "members.search", room, prefix: this.prefix }, { kind: "members", room });
    }, ASK_AFTER_MS);
  }

  // The server's `members` answer (a late answer to an older prefix is ignored).
  onMembers(frame) {
    if (this.prefix === null || frame.prefix !== this.prefix) return;
    const lowered = this.prefix.toLowerCase();
    const members = Array.isArray(frame.members) ? frame.members.filter((m) => m && typeof m.username === "string") : [];
    const groups = GROUPS.filter((g) => g.username.startsWith(lowered));
    this.list.show([...members, ...groups]);
  }

  choose(option) {
    if (this.prefix === null) return;
    const caret = this.input.selectionStart ?? this.input.value.length;
    const start = caret - this.prefix.length - 1;
    const inserted = `@${option.username} `;
    this.input.value = this.input.value.slice(0, start) + inserted + this.input.value.slice(caret);
    const at = start + inserted.length;
    this.input.setSelectionRange(at, at);
    this.list.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft and typing follow
  }
}
