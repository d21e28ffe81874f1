// Who is online in the room shown (online.fetch, then presence frames) and who else is
// typing there (typing frames). Both are outside the seq stream: best effort, never
// answered and never resent. State lives on the store's Room; this renders it.

import { names, span } from "./dom.js";
import { avatarImage, nameParts } from "./profiles.js";

const TYPING_SHOWN_MS = 5000; // an indicator lasts this long after its last frame

export class PresenceView {
  // elements: aside, list (<ul>), count, typing (<p>); isShown(room) -> bool; username();
  // profiles: the page's Profiles (names are shown by display name); changed(room): a
  // room's online set changed (the sidebar shows direct rooms' presence dots).
  constructor(elements, isShown, username, profiles, changed = () => {}) {
    this.el = elements;
    this.isShown = isShown;
    this.username = username;
    this.profiles = profiles;
    this.changed = changed;
  }

  // Some users' profiles changed: redraw what shows them in the room shown.
  refresh(room, usernames) {
    if (!room || !this.isShown(room)) return;
    const shows = (name) => usernames.has(name);
    if (room.onlineKnown && [...room.online].some(shows)) this.renderOnline(room);
    if ([...room.typists.keys()].some(shows)) this.renderTyping(room);
  }

  // online: the full list (sampled in a big room) and the count.
  setOnline(room, frame) {
    room.online = new Set(names(frame.online));
    room.onlineTotal = Number.isInteger(frame.online_count) ? frame.online_count : room.online.size;
    if (room.joined) room.online.add(this.username()); // counted, perhaps not in a sample
    room.onlineTotal = Math.max(room.onlineTotal, room.online.size);
    room.onlineKnown = true;
    if (this.isShown(room)) this.renderOnline(room);
    this.changed(room);
  }

  // presence: idempotent set updates; the server's count wins when it sends one.
  applyPresence(room, frame) {
    names(frame.joined).forEach((name) => {
      if (room.online.has(name)) return;
      room.online.add(name);
      room.onlineTotal += 1;
    });
    names(frame.left).forEach((name) => {
      room.online.delete(name);
      room.onlineTotal -= 1;
      this.typingStopped(room, name);
    });
    if (Number.isInteger(frame.online_count)) room.onlineTotal = frame.online_count;
    room.onlineTotal = Math.max(room.onlineTotal, room.online.size);
    if (this.isShown(room)) this.renderOnline(room);
    this.changed(room);
  }

  renderOnline(room) {
    const me = this.username();
    this.profiles.want(room.online);
    const shown = (name) => this.profiles.name(name);
    const items = Array.from(room.online)
      .sort(
        (a, b) => shown(a).localeCompare(shown(b), undefined, { sensitivity: "base" }) || (a < b ? -1 : a > b ? 1 : 0)
      )
      .map((name) => {
        const item = document.createElement("li");
        item.dataset.username = name;
        const profile = this.profiles.get(name);
        const who = span("name", "");
        nameParts(who, name, profile);
        // The name is written beside it: the image adds nothing for a screen reader.
        // Both open the person's profile card (profilecard.js).
        const person = document.createElement("button");
        person.type = "button";
        person.className = "person-button";
        person.dataset.profile = name;
        person.append(avatarImage(profile, ""), who);
        item.append(person);
        if (name === me) {
          item.classList.add("self");
          item.append(" ", span("you", "(you)"));
        }
        return item;
      });
    const more = room.onlineTotal - room.online.size;
    if (more > 0) {
      const item = document.createElement("li");
      item.className = "more";
      item.textContent = `and ${more} more`;
      items.push(item);
    }
    this.el.list.replaceChildren(...items);
    this.el.count.textContent = room.onlineTotal ? `(${room.onlineTotal})` : "";
  }

  setStale(stale) {
    this.el.aside.classList.toggle("stale", stale);
  }

  renderTyping(room) {
    const who = Array.from(room.typists.keys())
      .sort()
      .map((name) => this.profiles.name(name));
    let text = "";
    if (who.length === 1) text = `${who[0]} is typing…`;
    else if (who.length === 2) text = `${who[0]} and ${who[1]} are typing…`;
    else if (who.length > 2) text = "several people are typing…";
    if (this.el.typing.textContent !== text) this.el.typing.textContent = text;
  }

  typingStarted(room, name) {
    if (!name || name === this.username()) return; // never sent our own; be sure
    clearTimeout(room.typists.get(name));
    room.typists.set(
      name,
      setTimeout(() => {
        room.typists.delete(name);
        if (this.isShown(room)) this.renderTyping(room);
      }, TYPING_SHOWN_MS)
    );
    if (this.isShown(room)) this.renderTyping(room);
  }

  typingStopped(room, name) {
    if (!room.typists.has(name)) return;
    clearTimeout(room.typists.get(name));
    room.typists.delete(name);
    if (this.isShown(room)) this.renderTyping(room);
  }

  typingClearAll(room) {
    room.typists.forEach((timer) => clearTimeout(timer));
    room.typists.clear();
    if (this.isShown(room)) this.renderTyping(room);
  }

  show(room) {
    if (room && room.onlineKnown) this.renderOnline(room);
    else {
      this.el.list.replaceChildren();
      this.el.count.textContent = "";
    }
    if (room) this.renderTyping(room);
    else this.el.typing.textContent = "";
  }
}
