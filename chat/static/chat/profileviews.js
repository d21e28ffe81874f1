// Every place that shows a user follows their profile: messages (in every room held), the
// online list and typing line of the room shown, direct rooms in the sidebar, the header.

import { avatarImage, nameParts } from "./profiles.js";

export class ProfileViews {
  constructor({ profiles, store, timelines, presence, current, username }, meEl) {
    this.profiles = profiles;
    this.store = store;
    this.username = username;
    this.meEl = meEl;
    profiles.onChange((usernames) => {
      timelines.forEach((timeline) => timeline.refreshAuthors(usernames));
      presence.refresh(store.get(current()), usernames);
      if (usernames.has(username())) this.renderMe();
      if (store.joined().some((room) => room.kind === "direct" && usernames.has(room.other))) store.changed();
    });
  }

  // The header's own name and avatar.
  renderMe() {
    const profile = this.profiles.get(this.username());
    if (!this.meEl || !profile) return;
    const name = document.createElement("span");
    nameParts(name, this.username(), profile);
    this.meEl.replaceChildren(avatarImage(profile, ""), name);
  }

  // The other people of direct rooms: the sidebar shows their names and avatars.
  wantDirect() {
    const others = this.store.joined().filter((room) => room.kind === "direct" && room.other);
    this.profiles.want(others.map((room) => room.other));
  }
}
