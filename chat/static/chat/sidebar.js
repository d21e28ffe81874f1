// The sidebar: the joined rooms and direct conversations (from the store), each with its
// unread and mention counts, the room being shown marked aria-current, and the total
// unread in the document title. On a phone it folds away behind a button.

// A direct room is labelled by the other person's display name; their username follows
// when it differs, so two people of the same name stay apart.
function handleOf(room) {
  return room.kind === "direct" && room.other && room.label() !== room.other ? `@${room.other}` : "";
}

function countsText(room) {
  const handle = handleOf(room);
  const parts = [handle ? `${room.label()} ${handle}` : room.label()];
  const unread = room.unread();
  const mentions = room.mentions();
  if (unread) parts.push(`${unread} unread`);
  if (mentions) parts.push(`${mentions} ${mentions === 1 ? "mention" : "mentions"}`);
  return parts.join(", ");
}

export class Sidebar {
  // elements: nav, rooms (<ul>), dms (<ul>), dmsSection, preview (<ul>), previewSection,
  // toggle (button), toggleCount; onOpen(slug) for a plain click on a room.
  constructor(store, elements, onOpen) {
    this.store = store;
    this.el = elements;
    this.onOpen = onOpen;
    this.current = "";
    this.titleBase = document.title;
    this.el.nav.addEventListener("click", (event) => this.clicked(event));
    this.el.toggle.addEventListener("click", () => this.setOpen(!this.isOpen()));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOpen() && this.folded()) {
        this.setOpen(false);
        this.el.toggle.focus();
      }
    });
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
    link.setAttribute("aria-label", countsText(room));
    if (room.slug === this.current) link.setAttribute("aria-current", "page");
    li.append(link);
    return li;
  }

  render(preview) {
    const joined = this.store.joined();
    const rooms = joined.filter((room) => room.kind !== "direct");
    const dms = joined.filter((room) => room.kind === "direct");
    this.el.rooms.replaceChildren(...rooms.map((room) => this.item(room)));
    this.el.dms.replaceChildren(...dms.map((room) => this.item(room)));
    this.el.dmsSection.hidden = !dms.length;
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
