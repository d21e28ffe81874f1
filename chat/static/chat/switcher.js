// The quick room switcher: Ctrl+K (Cmd+K on a Mac) or the sidebar's button opens a
// filterable list of the joined rooms; arrows move, Enter opens, Escape closes.

import { dialogListKeydown } from "./dom.js";

export class Switcher {
  // elements: dialog, input, list (<ul role=listbox>), opener (button); rooms() -> Room[];
  // onOpen(slug).
  constructor(elements, rooms, onOpen) {
    this.el = elements;
    this.rooms = rooms;
    this.onOpen = onOpen;
    this.matches = [];
    this.active = 0;
    this.returnFocus = null;
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
        event.preventDefault();
        if (this.el.dialog.open) this.close();
        else this.open();
      }
    });
    this.el.opener.addEventListener("click", () => this.open());
    this.el.input.addEventListener("input", () => {
      this.active = 0;
      this.render();
    });
    this.el.input.addEventListener("keydown", (event) => this.keydown(event));
    this.el.list.addEventListener("click", (event) => {
      const option = event.target instanceof Element ? event.target.closest("[data-slug]") : null;
      if (option) this.choose(option.dataset.slug);
    });
    this.el.dialog.addEventListener("close", () => {
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
      this.returnFocus = null;
    });
    this.el.dialog.addEventListener("click", (event) => {
      if (event.target === this.el.dialog) this.close(); // a click on the backdrop
    });
  }

  open() {
    if (this.el.dialog.open) return;
    this.returnFocus = document.activeElement;
    this.el.input.value = "";
    this.active = 0;
    this.render();
    this.el.dialog.showModal();
    this.el.input.focus();
  }

  close() {
    if (this.el.dialog.open) this.el.dialog.close();
  }

  choose(slug) {
    this.returnFocus = null; // the page moves focus to the room it opens
    this.close();
    this.onOpen(slug);
  }

  keydown(event) {
    dialogListKeydown(event, this, (room) => this.choose(room.slug));
  }

  render() {
    const query = this.el.input.value.trim().toLowerCase();
    this.matches = this.rooms().filter(
      (room) =>
        !query ||
        room.label().toLowerCase().includes(query) ||
        room.slug.toLowerCase().includes(query) ||
        (room.other && room.other.toLowerCase().includes(query))
    );
    if (this.active >= this.matches.length) this.active = 0;
    const options = this.matches.map((room, index) => {
      const li = document.createElement("li");
      li.id = `switcher-option-${index}`;
      li.setAttribute("role", "option");
      li.dataset.slug = room.slug;
      const selected = index === this.active;
      li.setAttribute("aria-selected", String(selected));
      li.className = selected ? "active" : "";
      const unread = room.unread();
      li.textContent = room.label();
      if (room.kind === "direct") li.append(" ", tag("direct"));
      if (unread) li.append(" ", tag(`${unread} unread`));
      return li;
    });
    if (!options.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.setAttribute("role", "option");
      li.setAttribute("aria-disabled", "true");
      li.textContent = "No room matches.";
      options.push(li);
    }
    this.el.list.replaceChildren(...options);
    if (this.matches.length) {
      this.el.input.setAttribute("aria-activedescendant", `switcher-option-${this.active}`);
      const active = this.el.list.querySelector(".active");
      if (active) active.scrollIntoView({ block: "nearest" });
    } else {
      this.el.input.removeAttribute("aria-activedescendant");
    }
  }
}

function tag(text) {
  const el = document.createElement("span");
  el.className = "tag";
  el.textContent = text;
  return el;
}
