// The room page's people parts, wired to the rest of the page: the direct-message
// picker, profile cards, and the presence of the people one has direct rooms with
// (docs/page.md, "People"). main.js makes one and calls onHello() and onStoreChange().

import { PeoplePicker } from "./peoplepicker.js";
import { ProfileCard, profileCardElements } from "./profilecard.js";

const $ = (id) => document.getElementById(id);

// The other person of a direct room: online, offline, or null until the page knows.
export function directOnline(room) {
  return room.onlineKnown && room.other ? room.online.has(room.other) : null;
}

export class PeopleParts {
  // page: store, conn, profiles, sidebar, username(), current() -> slug, switchTo(slug).
  constructor(page) {
    this.page = page;
    this.presenceAsked = new Set(); // direct rooms asked for online.fetch on this socket
    this.picker = new PeoplePicker(
      {
        dialog: $("people-picker"),
        input: $("people-picker-input"),
        list: $("people-picker-list"),
        status: $("people-picker-status"),
      },
      { me: page.username, choose: (other) => this.openDirect(other) }
    );
    this.card = new ProfileCard(profileCardElements(), {
      me: page.username,
      profiles: page.profiles,
      openDirect: (other) => this.openDirect(other),
      online: (name) => this.online(name),
    });
  }

  // Live where the page follows a room both are in (the room shown, direct rooms).
  online(name) {
    const joined = this.page.store.joined();
    for (const room of joined) if (room.onlineKnown && room.online.has(name)) return true;
    const direct = joined.find((room) => room.kind === "direct" && room.other === name);
    return direct && direct.onlineKnown ? false : null;
  }

  // The conversation with this person: switched to in place when it is already in the
  // sidebar, else opened through /dm/<username>/ (which creates it) as a page load.
  openDirect(other) {
    const { store, sidebar } = this.page;
    const room = store.joined().find((r) => r.kind === "direct" && r.other === other);
    if (!room) {
      location.assign(`/dm/${encodeURIComponent(other)}/`);
      return;
    }
    if (sidebar.folded()) sidebar.setOpen(false);
    this.page.switchTo(room.slug);
    const input = $("body");
    if (!input.disabled) input.focus();
    else $("room-name").focus();
  }

  // Every joined room's presence frames reach this socket, so each direct room needs
  // one online.fetch per connection for its starting state (the room shown has its
  // own, from navigation). Asked after hello, and for direct rooms joined later.
  wantDirectPresence() {
    const { store, conn } = this.page;
    if (!conn.ready) return;
    for (const room of store.joined()) {
      if (room.kind !== "direct" || this.presenceAsked.has(room.slug)) continue;
      if (room.slug === this.page.current()) continue;
      this.presenceAsked.add(room.slug);
      conn.send({ type: "online.fetch", room: room.slug }, { kind: "online", room: room.slug });
    }
  }

  onHello() {
    this.presenceAsked.clear();
    this.wantDirectPresence();
  }

  onStoreChange() {
    this.wantDirectPresence();
  }
}
