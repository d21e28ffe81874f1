// Users' display names and avatars (docs/protocol.md, `user.updated`; docs/api.md,
// `GET /api/users/`), cached for the life of the page, and the small DOM pieces that show
// them. Missing profiles are asked for in batches, never one request per name. No socket
// here: the page feeds it hello.user, user.updated frames and message authors.

import { span } from "./dom.js";

export const USERS_PER_LOOKUP = 100; // the API's limit per request (docs/api.md)
const LOOKUP_RETRY_MS = 5000; // a failed lookup is tried again once this passed
const AVATAR_PREFIX = "/api/users/"; // only the server's own avatar URLs are shown

// The profile's version, from the avatar URL (`?v=N`): it changes with every change of
// name or avatar, so the newer of two copies of a profile is the one with the higher v.
function versionOf(avatar) {
  const match = typeof avatar === "string" ? /[?&]v=(\d+)/.exec(avatar) : null;
  return match ? Number(match[1]) : -1;
}

function clean(raw) {
  if (!raw || typeof raw.username !== "string" || !raw.username) return null;
  const display = typeof raw.display_name === "string" && raw.display_name.trim() ? raw.display_name : raw.username;
  const avatar = typeof raw.avatar === "string" && raw.avatar.startsWith(AVATAR_PREFIX) ? raw.avatar : "";
  return { username: raw.username, displayName: display, avatar, bot: raw.author_bot === true };
}

export class Profiles {
  constructor() {
    this.known = new Map(); // username -> {username, displayName, avatar, bot}
    this.absent = new Set(); // asked for, not returned (unknown or deactivated)
    this.wanted = new Set(); // to ask for in the next batch
    this.asking = new Set(); // in a request now
    this.flushQueued = false;
    this.listeners = [];
    this.unannounced = new Set(); // changed, listeners not told yet

  }

  // listener(usernames: Set) after profiles changed.
  onChange(listener) {
    this.listeners.push(listener);
  }

  get(username) {
    return this.known.get(username) || null;
  }

  // The name to show for a username: the display name once known.
  name(username) {
    const profile = this.known.get(username);
    return profile ? profile.displayName : username;
  }

  // A profile from hello.user, user.updated or the API. An older copy than the one held
  // (a message read before the change) changes nothing. True when something changed.
  put(raw) {
    const profile = clean(raw);
    if (!profile) return false;
    const held = this.known.get(profile.username);
    if (held && versionOf(held.avatar) > versionOf(profile.avatar)) return false;
    this.absent.delete(profile.username);
    if (held && held.displayName === profile.displayName && held.avatar === profile.avatar && held.bot === profile.bot) {
      return false;
    }
    this.known.set(profile.username, profile);
    this.changed([profile.username]);
    return true;
  }

  // A message carries its author's profile as of when it was read: learned, unless the
  // page already holds a newer one (a change missed while offline shows everywhere).
  // A bot's message is the exception: its name and avatar may be the ones a hook posted
  // it with (botlook.js), not the bot's profile, which is asked for instead.
  fromMessage(message) {
    if (!message || message.kind === "system" || typeof message.author !== "string") return;
    if (message.author_bot === true) {
      this.want([message.author]);
      return;
    }
    this.put({ username: message.author, display_name: message.author_display_name, avatar: message.author_avatar });
  }

  // Listeners hear of changes once per task, however many there were (a page of history
  // by twenty new authors redraws once, not twenty times).
  changed(usernames) {
    const queued = this.unannounced.size > 0;
    usernames.forEach((name) => this.unannounced.add(name));
    if (queued || !this.unannounced.size) return;
    queueMicrotask(() => {
      const names = new Set(this.unannounced);
      this.unannounced.clear();
      this.listeners.forEach((listener) => listener(names));
    });
  }

  // Ask for the profiles of these usernames that are not held yet (batched at the end
  // of the current task, at most USERS_PER_LOOKUP per request).
  want(usernames) {
    for (const name of usernames) {
      if (typeof name !== "string" || !name) continue;
      if (this.known.has(name) || this.absent.has(name) || this.asking.has(name)) continue;
      this.wanted.add(name);
    }
    if (this.wanted.size && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush() {
    this.flushQueued = false;
    const names = [...this.wanted];
    this.wanted.clear();
    for (let i = 0; i < names.length; i += USERS_PER_LOOKUP) {
      this.lookup(names.slice(i, i + USERS_PER_LOOKUP));
    }
  }

  async lookup(names) {
    names.forEach((name) => this.asking.add(name));
    const query = names.map(encodeURIComponent).join(",");
    let found = [];
    let retry = false;
    try {
      const response = await fetch(`/api/users/?usernames=${query}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) found = await response.json();
      else retry = response.status >= 500; // a refusal (logged out) is not asked again
    } catch {
      retry = true; // offline
    }
    names.forEach((name) => this.asking.delete(name));
    if (retry) {
      setTimeout(() => this.want(names), LOOKUP_RETRY_MS);
      return;
    }
    if (!Array.isArray(found)) found = [];
    found.forEach((raw) => this.put(raw));
    for (const name of names) if (!this.known.has(name)) this.absent.add(name);
  }
}

// --- DOM --------------------------------------------------------------------------------

// A small avatar image. `alt`: its text alternative (the display name where the image
// stands for the person; "" where the name is written right beside it).
export function avatarImage(profile, alt) {
  const img = document.createElement("img");
  img.className = "avatar";
  img.width = 24;
  img.height = 24;
  img.decoding = "async";
  img.loading = "lazy";
  setAvatar(img, profile, alt);
  return img;
}

export function setAvatar(img, profile, alt) {
  if (profile && profile.avatar) {
    // A hook's icon_url is on another host: it learns nothing of the page it is seen on.
    if (!profile.avatar.startsWith(AVATAR_PREFIX)) img.referrerPolicy = "no-referrer";
    if (img.getAttribute("src") !== profile.avatar) img.src = profile.avatar;
    img.hidden = false;
  } else {
    img.removeAttribute("src");
    img.hidden = true; // nothing known yet: no broken image
  }
  img.alt = alt;
}

// "Alice Liddell @alice": the display name, and the username when it differs (two people
// may choose the same name; the username tells them apart); a bot's with its BOT badge.
export function nameParts(el, username, profile) {
  const display = profile ? profile.displayName : username;
  const parts = [span("display-name", display)];
  if (display !== username) parts.push(" ", span("handle", `@${username}`));
  if (profile && profile.bot) parts.push(" ", botBadge());
  el.replaceChildren(...parts);
}

// The badge beside every name of a bot account, so an app never passes for a person
// (whatever name a hook posts with). Its title says what it means on hover.
export function botBadge() {
  const badge = span("bot-badge", "BOT");
  badge.title = "An app (bot account), not a person";
  return badge;
}
