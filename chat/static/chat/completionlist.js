// A completion list under the composer (the @ names, the : emoji): a listbox the
// textarea drives through aria-activedescendant. Arrows move, Enter (not Shift+Enter:
// that is a new line) or Tab choose, Escape closes, a click chooses without taking the
// focus from the textarea. What the options are and what choosing one writes is the
// owner's (mentionpicker.js, emojicomplete.js).

import { arrowStep } from "./dom.js";

// parts: renderOption(li, option) fills an option's item; choose(option) writes it
// into the textarea; closed() (optional) after the list closes.
export class CompletionList {
  constructor(input, list, parts) {
    this.input = input;
    this.list = list;
    this.parts = parts;
    this.options = [];
    this.active = -1;
    list.setAttribute("role", "listbox");
    input.setAttribute("aria-autocomplete", "list");
    const controls = (input.getAttribute("aria-controls") || "").split(" ").filter(Boolean);
    if (!controls.includes(list.id)) input.setAttribute("aria-controls", [...controls, list.id].join(" "));
    input.addEventListener("keydown", (event) => this.onKey(event), true);
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    list.addEventListener("click", (event) => {
      const item = event.target instanceof Element ? event.target.closest("[role=option]") : null;
      if (item) this.choose(Number(item.dataset.index));
    });
  }

  show(options) {
    this.options = options;
    this.active = options.length ? 0 : -1;
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
      this.parts.renderOption(item, option);
      this.list.append(item);
    });
    const open = this.options.length > 0;
    this.list.hidden = !open;
    // No aria-expanded: the composer is a textarea (role textbox), which takes none;
    // the options are announced through aria-activedescendant and the listbox.
    if (open && this.active >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
    else if (this.input.getAttribute("aria-activedescendant")?.startsWith(this.list.id)) {
      this.input.removeAttribute("aria-activedescendant"); // not another list's
    }
  }

  onKey(event) {
    if (this.list.hidden || !this.options.length) return;
    const next = arrowStep(event.key, this.active, this.options.length);
    if (next !== null) {
      this.active = next;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // Enter chooses; it does not send
  }

  choose(index) {
    const option = this.options[index];
    if (option) this.parts.choose(option);
  }

  close() {
    this.options = [];
    this.active = -1;
    this.render();
    if (this.parts.closed) this.parts.closed();
  }
}
