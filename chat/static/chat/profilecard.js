// Profile cards: a click on (or Enter on) anything that carries data-profile="<username>"
// (message authors and avatars, the online list, the sidebar's direct messages, the
// people directory) opens a small dialog with the person's avatar, names, presence,
// local time and a "Message" button (not for oneself). Escape closes it and focus goes
// back where it was. The card reads GET /api/users/<username>/ (docs/api.md): nothing
// about rooms is asked for or shown.

import { localTime } from "./peoplesearch.js";

const CARD_GAP_PX = 6; // between the card and what opened it
const VIEW_MARGIN_PX = 8; // the card never touches the viewport's edge

export class ProfileCard {
  // elements: dialog, avatar, name, handle, bot (its BOT badge), presence, time, error, message (a), close.
  // options: me() -> the viewer's username; profiles (optional: the page's Profiles,
  // shown at once while the card's own request runs); online(username) -> true | false |
  // null, the page's live presence where it knows it better than the request did;
  // openDirect(username) (optional): opens the conversation instead of following the link.
  constructor(elements, options) {
    this.el = elements;
    this.options = options;
    this.username = "";
    this.returnFocus = null;
    this.request = null;
    document.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("keydown", (event) => {
      // Buttons and links click on Enter by themselves; other focusable holders do not.
      if (event.key !== "Enter" || !(event.target instanceof Element)) return;
      const holder = event.target.closest("[data-profile]");
      if (!holder || holder.matches("button, a[href]")) return;
      event.preventDefault();
      this.open(holder.dataset.profile, holder);
    });
    this.el.close.addEventListener("click", () => this.close());
    this.el.message.addEventListener("click", (event) => {
      if (!options.openDirect || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault(); // the page opens the conversation itself (in place if it can)
      const username = this.username;
      this.returnFocus = null;
      this.close();
      options.openDirect(username);
    });
    this.el.dialog.addEventListener("click", (event) => {
      if (event.target === this.el.dialog) this.close(); // the backdrop
    });
    this.el.dialog.addEventListener("close", () => {
      if (this.request) this.request.abort();
      this.request = null;
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
      this.returnFocus = null;
    });
  }

  clicked(event) {
    if (!(event.target instanceof Element) || event.button !== 0) return;
    const holder = event.target.closest("[data-profile]");
    if (!holder || !holder.dataset.profile || this.el.dialog.contains(holder)) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey) return; // a link opened elsewhere
    event.preventDefault();
    this.open(holder.dataset.profile, holder);
  }

  close() {
    if (this.el.dialog.open) this.el.dialog.close();
  }

  open(username, anchor) {
    if (this.el.dialog.open) this.close();
    this.username = username;
    this.returnFocus = anchor || document.activeElement;
    const known = this.options.profiles ? this.options.profiles.get(username) : null;
    this.fill({
      username,
      display_name: known ? known.displayName : username,
      avatar: known ? known.avatar : "",
      author_bot: known ? known.bot : false,
      timezone: "",
      online: null,
    });
    this.el.error.hidden = true;
    this.el.dialog.showModal();
    this.place(anchor);
    (this.el.message.hidden ? this.el.close : this.el.message).focus();
    this.load(username);
  }

  async load(username) {
    const request = new AbortController();
    this.request = request;
    try {
      const response = await fetch(`/api/users/${encodeURIComponent(username)}/`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: request.signal,
      });
      if (this.username !== username || !this.el.dialog.open) return;
      if (response.status === 404) {
        this.showError("This account no longer exists or was deactivated.");
        this.el.message.hidden = true;
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const person = await response.json();
      if (this.username !== username || !this.el.dialog.open) return;
      this.fill(person);
      if (this.options.profiles) this.options.profiles.put(person); // a newer name: shown everywhere
    } catch {
      if (request.signal.aborted) return;
      if (this.username === username) this.showError("Could not load this profile; try again.");
    } finally {
      if (this.request === request) this.request = null;
    }
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = false;
  }

  fill(person) {
    const username = person.username;
    const display = person.display_name || username;
    this.el.name.textContent = display;
    this.el.handle.textContent = `@${username}`;
    if (this.el.bot) this.el.bot.hidden = person.author_bot !== true;
    if (typeof person.avatar === "string" && person.avatar.startsWith("/api/users/")) {
      this.el.avatar.src = person.avatar;
      this.el.avatar.hidden = false;
    } else {
      this.el.avatar.removeAttribute("src");
      this.el.avatar.hidden = true;
    }
    const live = this.options.online ? this.options.online(username) : null;
    const online = live !== null && live !== undefined ? live : person.online;
    this.el.presence.textContent = online === true ? "online" : online === false ? "offline" : "";
    this.el.presence.dataset.online = online === true ? "true" : online === false ? "false" : "unknown";
    const time = localTime(person.timezone);
    this.el.time.textContent = time ? `${time} local time` : "";
    this.el.time.title = time ? person.timezone : "";
    const mine = username === this.options.me();
    this.el.message.hidden = mine;
    this.el.message.href = `/dm/${encodeURIComponent(username)}/`;
    this.el.message.setAttribute("aria-label", `Message ${display}`);
  }

  // Beside what opened it where there is room (below, else above); centred on a phone
  // or without an anchor (the stylesheet's default for a modal dialog).
  place(anchor) {
    const dialog = this.el.dialog;
    dialog.classList.remove("anchored");
    dialog.style.removeProperty("top");
    dialog.style.removeProperty("left");
    if (!anchor || !anchor.isConnected || window.innerWidth < 480) return;
    const at = anchor.getBoundingClientRect();
    const box = dialog.getBoundingClientRect();
    const left = Math.min(Math.max(at.left, VIEW_MARGIN_PX), window.innerWidth - box.width - VIEW_MARGIN_PX);
    let top = at.bottom + CARD_GAP_PX;
    if (top + box.height > window.innerHeight - VIEW_MARGIN_PX) top = at.top - box.height - CARD_GAP_PX;
    top = Math.max(top, VIEW_MARGIN_PX);
    dialog.classList.add("anchored");
    dialog.style.left = `${Math.round(left)}px`;
    dialog.style.top = `${Math.round(top)}px`;
  }
}

// The card's elements in a page that includes templates/chat/_profile_card.html.
export function profileCardElements() {
  const $ = (id) => document.getElementById(id);
  return {
    dialog: $("profile-card"),
    avatar: $("profile-card-avatar"),
    name: $("profile-card-name"),
    handle: $("profile-card-handle"),
    bot: $("profile-card-bot"),
    presence: $("profile-card-presence"),
    time: $("profile-card-time"),
    error: $("profile-card-error"),
    message: $("profile-card-message"),
    close: $("profile-card-close"),
  };
}
