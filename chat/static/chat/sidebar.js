// The sidebar: sections "Rooms" and "Direct messages" (from the store), each with its
// unread and mention counts, a "+" and a fold button; the room being shown marked
// aria-current, and the total unread in the document title. A direct message shows the
// other person's avatar and presence dot (the avatar opens their profile card). On a
// phone it folds away behind a button. The reader's choices (sections folded, unread
// first) are kept in this browser's localStorage: they are about one screen, not the
// account.

import { avatarImage } from "./profiles.js";

const COLLAPSED_KEY = "chat.sidebar.collapsed"; // JSON list of folded sections' names
const ORDER_KEY = "chat.sidebar.order"; // "unread" (unread first) or absent (by name)

// The order of a section's rooms: as given (by name), or, with `unreadFirst`, rooms
// with mentions first, then the other unread ones, each group keeping the given order.
export function orderRooms(rooms, unreadFirst) {
  if (!unreadFirst) return rooms.slice();
  const weight = (room) => (room.mentions() > 0 ? 0 : room.unread() > 0 ? 1 : 2);
  return rooms
    .map((room, index) => ({ room, index, weight: weight(room) }))
    .sort((a, b) => a.weight - b.weight || a.index - b.index)
    .map((entry) => entry.room);
}

function stored(key, fallback) {
  try {
    const value = window.localStorage.getItem(key);
    return value === null ? fallback : value;
  } catch {
    return fallback; // storage refused (a private window's policy): the defaults hold
  }
}

function keep(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // not kept across reloads; it still holds for this page
  }
}

// A direct room is labelled by the other person's display name; their username follows
// when it differs, so two people of the same name stay apart.
function handleOf(room) {
  return room.kind === "direct" && room.other && room.label() !== room.other ? `@${room.other}` : "";
}

function countsText(room, online) {
  const handle = handleOf(room);
  const parts = [handle ? `${room.label()} ${handle}` : room.label()];
  if (online !== null) parts.push(online ? "online" : "offline");
  const unread = room.unread();
  const mentions = room.mentions();
  if (unread) parts.push(`${unread} unread`);
  if (mentions) parts.push(`${mentions} ${mentions === 1 ? "mention" : "mentions"}`);
  return parts.join(", ");
}

export class Sidebar {
  // elements: nav, rooms (<ul>), dms (<ul>), dmsSection, dmsEmpty, preview (<ul>),
  // previewSection, toggle (button), toggleCount, unreadFirst (checkbox), roomsAdd,
  // roomsMenu, dmsAdd. onOpen(slug) for a plain click on a room. options: profiles (the
  // page's Profiles), online(room) -> true | false | null (unknown), startDirect() (the
  // people picker), loaded() -> the rooms are known (a hello came).
  constructor(store, elements, onOpen, options = {}) {
    this.store = store;
    this.el = elements;
    this.onOpen = onOpen;
    this.options = options;
    this.current = "";
    this.titleBase = document.title;
    this.collapsed = new Set(this.readCollapsed());
    this.el.nav.addEventListener("click", (event) => this.clicked(event));
    this.el.toggle.addEventListener("click", () => this.setOpen(!this.isOpen()));
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      if (document.querySelector("dialog[open]")) return; // the dialog closes, not the drawer
      if (this.menuOpen()) {
        this.setMenu(false);
        this.el.roomsAdd.focus();
      } else if (this.isOpen() && this.folded()) {
        this.setOpen(false);
        this.el.toggle.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (this.menuOpen() && event.target instanceof Node && !this.el.roomsMenu.parentElement.contains(event.target)) {
        this.setMenu(false);
      }
    });
    if (this.el.unreadFirst) {
      this.el.unreadFirst.checked = stored(ORDER_KEY, "") === "unread";
      this.el.unreadFirst.addEventListener("change", () => {
        keep(ORDER_KEY, this.el.unreadFirst.checked ? "unread" : null);
        this.render(this.lastPreview);
      });
    }
    if (this.el.roomsAdd) this.el.roomsAdd.addEventListener("click", () => this.setMenu(!this.menuOpen()));
    if (this.el.dmsAdd && options.startDirect) this.el.dmsAdd.addEventListener("click", () => options.startDirect());
    for (const button of this.el.nav.querySelectorAll(".section-toggle")) {
      button.addEventListener("click", () => this.toggleSection(button));
      this.applySection(button);
    }
  }

  readCollapsed() {
    try {
      const list = JSON.parse(stored(COLLAPSED_KEY, "[]"));
      return Array.isArray(list) ? list.filter((name) => typeof name === "string") : [];
    } catch {
      return [];
    }
  }

  sectionOf(button) {
    return button.closest("[data-section]");
  }

  toggleSection(button) {
    const name = this.sectionOf(button).dataset.section;
    if (this.collapsed.has(name)) this.collapsed.delete(name);
    else this.collapsed.add(name);
    keep(COLLAPSED_KEY, this.collapsed.size ? JSON.stringify([...this.collapsed]) : null);
    this.applySection(button);
  }

  // A folded section keeps its heading (with the section's unread total) and its "+".
  applySection(button) {
    const section = this.sectionOf(button);
    const folded = this.collapsed.has(section.dataset.section);
    button.setAttribute("aria-expanded", String(!folded));
    section.classList.toggle("collapsed", folded);
  }

  menuOpen() {
    return Boolean(this.el.roomsMenu && !this.el.roomsMenu.hidden);
  }

  setMenu(open) {
    if (!this.el.roomsMenu) return;
    this.el.roomsMenu.hidden = !open;
    this.el.roomsAdd.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = this.el.roomsMenu.querySelector("a");
      if (first) first.focus();
    }
  }

  folded() {
    return getComputedStyle(this.el.toggle).display !== "none";
  }

  isOpen() {
    return this.el.toggle.getAttribute("aria-expanded") === "true";
  }

  setOpen(open) {
    this.el.toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("sidebar-open", open);
    if (open) {
      const link = this.el.nav.querySelector("a[aria-current]") || this.el.nav.querySelector("a");
      if (link) link.focus();
    }
  }

  clicked(event) {
    const link = event.target instanceof Element ? event.target.closest("a[data-slug]") : null;
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    if (this.folded()) this.setOpen(false);
    this.onOpen(link.dataset.slug);
  }

  online(room) {
    return room.kind === "direct" && this.options.online ? this.options.online(room) : null;
  }

  // The avatar of a direct room's other person, with their presence dot: a button that
  // opens their profile card (outside the link: one control inside another is invalid).
  person(room, online) {
    const profiles = this.options.profiles;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "dm-person";
    button.dataset.profile = room.other;
    button.setAttribute("aria-label", `Profile of ${room.label()}`);
    button.append(avatarImage(profiles ? profiles.get(room.other) : null, ""));
    const dot = document.createElement("span");
    dot.className = `presence-dot${online ? " online" : ""}${online === null ? " unknown" : ""}`;
    dot.setAttribute("aria-hidden", "true");
    button.append(dot);
    return button;
  }

  item(room) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/chat/${encodeURIComponent(room.slug)}/`;
    link.dataset.slug = room.slug;
    link.className = "room-link";
    const unread = room.unread();
    const mentions = room.mentions();
    li.classList.toggle("unread", unread > 0);
    const name = document.createElement("span");
    name.className = "room-name";
    name.textContent = room.label();
    const handle = handleOf(room);
    if (handle) {
      const small = document.createElement("span");
      small.className = "handle";
      small.textContent = handle;
      name.append(" ", small);
    }
    link.append(name);
    if (mentions) {
      const badge = document.createElement("span");
      badge.className = "badge mention";
      badge.textContent = `@${mentions}`;
      link.append(badge);
    }
    if (unread) {
      const badge = document.createElement("span");
      badge.className = "badge count";
      badge.textContent = String(unread);
      link.append(badge);
    }
    const online = this.online(room);
    link.setAttribute("aria-label", countsText(room, online));
    if (room.slug === this.current) link.setAttribute("aria-current", "page");
    if (room.kind === "direct" && room.other) {
      li.className += " dm";
      li.dataset.online = online === null ? "unknown" : String(online);
      li.append(this.person(room, online));
    }
    li.append(link);
    return li;
  }

  // The section's unread total beside its heading, shown while it is folded.
  sectionCount(list, rooms) {
    const button = this.el.nav.querySelector(`[aria-controls="${list.id}"]`);
    if (!button) return;
    let badge = button.querySelector(".badge");
    const total = rooms.reduce((sum, room) => sum + room.unread(), 0);
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge count section-count";
      button.append(badge);
    }
    badge.textContent = total ? String(total) : "";
  }

  render(preview) {
    this.lastPreview = preview;
    const unreadFirst = Boolean(this.el.unreadFirst && this.el.unreadFirst.checked);
    const joined = this.store.joined();
    const rooms = orderRooms(
      joined.filter((room) => room.kind !== "direct"),
      unreadFirst
    );
    const dms = orderRooms(
      joined.filter((room) => room.kind === "direct"),
      unreadFirst
    );
    this.el.rooms.replaceChildren(...rooms.map((room) => this.item(room)));
    this.el.dms.replaceChildren(...dms.map((room) => this.item(room)));
    const loaded = this.options.loaded ? this.options.loaded() : true;
    if (this.el.dmsEmpty) this.el.dmsEmpty.hidden = dms.length > 0 || !loaded; // no flash before hello
    this.sectionCount(this.el.rooms, rooms);
    this.sectionCount(this.el.dms, dms);
    this.el.preview.replaceChildren(...(preview ? [this.item(preview)] : []));
    this.el.previewSection.hidden = !preview;
    const total = this.store.totalUnread();
    this.el.toggleCount.textContent = total ? String(total) : "";
    this.el.toggle.setAttribute("aria-label", total ? `Rooms, ${total} unread` : "Rooms");
    const shown = this.store.get(this.current);
    const title = `${shown ? shown.label() : this.titleBase.replace(/ · Chat$/, "")} · Chat`;
    document.title = total ? `(${total}) ${title}` : title;
  }
}
