// The direct-message people picker (the sidebar's "+" on Direct messages): a dialog
// with a search box over usernames and display names; ↑/↓ move, Enter opens (or
// creates) the conversation, Escape closes and focus goes back. Each keystroke narrows
// the people the server already returned in this page (at once), then the server's own
// answer (GET /api/users/?q=, docs/api.md) replaces them once typing pauses. Only the
// server's answers are shown, so only active users are ever offered.

import { avatarImage, botBadge } from "./profiles.js";
import { matchPeople } from "./peoplesearch.js";
import { dialogListKeydown } from "./dom.js";

const SEARCH_DELAY_MS = 150; // typing pauses this long before the server is asked
const SHOWN_MAX = 20; // the server's page size too
const SEEN_MAX = 1000; // people remembered from earlier answers, for instant narrowing

export class PeoplePicker {
  // elements: dialog, input, list (<ul role=listbox>), status. options: me() -> the
  // viewer's username; choose(username) opens the conversation.
  constructor(elements, options) {
    this.el = elements;
    this.options = options;
    this.matches = [];
    this.active = 0;
    this.timer = 0;
    this.request = null;
    this.returnFocus = null;
    this.seen = new Map(); // username -> person, from the server's answers (bounded below)
    this.el.input.addEventListener("input", () => this.typed());
    this.el.input.addEventListener("keydown", (event) => this.keydown(event));
    this.el.list.addEventListener("click", (event) => {
      const option = event.target instanceof Element ? event.target.closest("[data-username]") : null;
      if (option) this.choose(option.dataset.username);
    });
    this.el.dialog.addEventListener("close", () => {
      clearTimeout(this.timer);
      if (this.request) this.request.abort();
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
      this.returnFocus = null;
    });
    this.el.dialog.addEventListener("click", (event) => {
      if (event.target === this.el.dialog) this.close();
    });
  }

  open() {
    if (this.el.dialog.open) return;
    this.returnFocus = document.activeElement;
    this.el.input.value = "";
    this.active = 0;
    this.el.dialog.showModal();
    this.el.input.focus();
    this.typed();
  }

  close() {
    if (this.el.dialog.open) this.el.dialog.close();
  }

  others(people) {
    const me = this.options.me();
    return people.filter((person) => person.username !== me);
  }

  // People seen before at once; the server's answer for the same text replaces them.
  typed() {
    const query = this.el.input.value;
    const found = matchPeople(this.others([...this.seen.values()]), query, SHOWN_MAX);
    this.show(found, found.length ? "" : "Searching…");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.search(query), SEARCH_DELAY_MS);
  }

  async search(query) {
    if (this.request) this.request.abort();
    const request = new AbortController();
    this.request = request;
    try {
      const response = await fetch(`/api/users/?q=${encodeURIComponent(query.trim())}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: request.signal,
      });
      if (request.signal.aborted || this.el.input.value !== query) return;
      if (response.status === 429) {
        this.status("Searching too fast: wait a moment, then type again.");
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const page = await response.json();
      if (request.signal.aborted || this.el.input.value !== query) return;
      const people = (Array.isArray(page.results) ? page.results : []).map((raw) => ({
        username: raw.username,
        displayName: raw.display_name || raw.username,
        avatar: raw.avatar,
        bot: raw.author_bot === true,
        online: raw.online === true,
      }));
      if (this.seen.size > SEEN_MAX) this.seen.clear();
      people.forEach((person) => this.seen.set(person.username, person));
      const chosen = this.matches[this.active];
      this.show(this.others(people), "", chosen ? chosen.username : "");
    } catch {
      if (!request.signal.aborted) this.status("Could not search people; showing those already known.");
    } finally {
      if (this.request === request) this.request = null;
    }
  }

  status(text) {
    this.el.status.textContent = text;
  }

  keydown(event) {
    dialogListKeydown(event, this, (person) => this.choose(person.username));
  }

  choose(username) {
    this.returnFocus = null; // the page moves focus to the conversation it opens
    this.close();
    this.options.choose(username);
  }

  // keep: the username to stay on when the list is replaced (the server's answer).
  show(people, statusText, keep = "") {
    this.matches = people;
    const kept = keep ? people.findIndex((person) => person.username === keep) : -1;
    this.active = kept >= 0 ? kept : 0;
    this.render();
    this.status(statusText || (people.length ? "" : "Nobody matches."));
  }

  render() {
    const options = this.matches.map((person, index) => {
      const li = document.createElement("li");
      li.id = `people-option-${index}`;
      li.setAttribute("role", "option");
      li.dataset.username = person.username;
      const selected = index === this.active;
      li.setAttribute("aria-selected", String(selected));
      li.className = selected ? "active" : "";
      const name = document.createElement("span");
      name.className = "display-name";
      name.textContent = person.displayName;
      li.append(avatarImage(person, ""), name);
      if (person.displayName !== person.username) {
        const handle = document.createElement("span");
        handle.className = "handle";
        handle.textContent = `@${person.username}`;
        li.append(" ", handle);
      }
      if (person.bot) li.append(" ", botBadge());
      if (person.online) {
        const dot = document.createElement("span");
        dot.className = "presence-text";
        dot.textContent = "online";
        li.append(" ", dot);
      }
      return li;
    });
    this.el.list.replaceChildren(...options);
    if (this.matches.length) {
      this.el.input.setAttribute("aria-activedescendant", `people-option-${this.active}`);
      const active = this.el.list.querySelector(".active");
      if (active) active.scrollIntoView({ block: "nearest" });
    } else {
      this.el.input.removeAttribute("aria-activedescendant");
    }
  }
}
