// The composer's @ completion: typing "@" and the start of a name lists matching members
// of the room (by username or display name, asked of the server with members.search),
// plus @here and @room; arrows move, Enter or Tab insert, Escape closes.

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
    this.list = els.list;
    this.prefix = null; // what follows "@" before the caret, while completing
    this.options = [];
    this.active = -1;
    this.timer = null;
    this.list.setAttribute("role", "listbox");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-controls", this.list.id);
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("keydown", (event) => this.onKey(event), true);
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest("[role=option]");
      if (item) this.choose(Number(item.dataset.index));
    });
  }

  onInput() {
    const before = this.input.value.slice(0, this.input.selectionStart ?? this.input.value.length);
    const match = TOKEN_BEFORE_CARET.exec(before);
    if (!match) {
      this.close();
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
    this.options = [...members, ...groups];
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
      const name = document.createElement("strong");
      name.textContent = `@${option.username}`;
      item.append(name);
      const display = typeof option.display_name === "string" ? option.display_name : "";
      if (display && display !== option.username) item.append(` ${display}`);
      this.list.append(item);
    });
    const open = this.options.length > 0;
    this.list.hidden = !open;
    // No aria-expanded: the composer is a textarea (role textbox), which takes none;
    // the options are announced through aria-activedescendant and the listbox.
    if (open && this.active >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  onKey(event) {
    if (this.list.hidden || !this.options.length) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      this.active = (this.active + moves[event.key] + this.options.length) % this.options.length;
      this.render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // Enter picks a name; it does not send
  }

  choose(index) {
    const option = this.options[index];
    if (!option || this.prefix === null) return;
    const caret = this.input.selectionStart ?? this.input.value.length;
    const start = caret - this.prefix.length - 1;
    const inserted = `@${option.username} `;
    this.input.value = this.input.value.slice(0, start) + inserted + this.input.value.slice(caret);
    const at = start + inserted.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft and typing follow
  }

  close() {
    clearTimeout(this.timer);
    this.prefix = null;
    this.options = [];
    this.active = -1;
    this.render();
  }
}
