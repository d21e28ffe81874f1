// Per-room state of the page and the read-state arithmetic of docs/protocol.md ("Read
// state"): the server's counts are exact as of a seq S; the page adds the counting
// messages it received after S and takes away the ones deleted since. No DOM here.

import { isMention } from "./mentions.js";

const KIND_ORDER = { public: 0, private: 1, direct: 2 };

// How a username is shown (a direct room is labelled by the other person's display
// name): the page sets it once its profile cache exists.
let displayNameOf = (username) => username;
export function setDisplayNames(resolve) {
  displayNameOf = resolve;
}

function num(value, fallback) {
  return Number.isInteger(value) && value >= 0 ? value : fallback;
}

export class Room {
  constructor(info, joined) {
    this.slug = info.slug;
    this.joined = joined;
    this.lost = ""; // "left" | "removed" | "banned" | "forbidden" | "gone": no longer readable
    this.lastSeq = 0; // the highest seq known to exist (hello / room.read / message frames)
    this.streamStart = 0; // the live stream carries seq > this
    this.readSeq = 0; // the read pointer: the server's or, ahead of it, the page's own
    this.asOf = 0; // base counts are exact as of this seq ...
    this.baseUnread = 0;
    this.baseMentions = 0;
    this.extras = new Map(); // ... plus these: message id -> {seq, mention}, seq > asOf
    this.online = new Set();
    this.onlineTotal = 0;
    this.onlineKnown = false;
    this.typists = new Map(); // username -> timer
    this.update(info);
  }

  // Room facts from hello.rooms, room.joined or room.watching.
  update(info) {
    this.name = typeof info.name === "string" ? info.name : this.slug;
    this.kind = info.kind in KIND_ORDER ? info.kind : "public";
    this.topic = typeof info.topic === "string" ? info.topic : "";
    this.locked = info.locked === true;
    this.other = info.other && typeof info.other.username === "string" ? info.other.username : "";
    // May add and remove the members of this private room (its owner, or staff).
    this.canManage = info.can_manage === true;
    // The notification level chosen here ("" = the default); a preview carries none.
    if (typeof info.notify_level === "string") this.notifyLevel = info.notify_level;
    else if (this.notifyLevel === undefined) this.notifyLevel = "";
    const lastSeq = num(info.last_seq, 0);
    this.lastSeq = Math.max(this.lastSeq, lastSeq);
    this.streamStart = lastSeq;
    this.readSeq = Math.max(this.readSeq, num(info.last_read_seq, lastSeq));
    this.setCounts(num(info.unread, 0), num(info.mentions, 0), lastSeq);
  }

  setCounts(unread, mentions, asOf) {
    this.baseUnread = unread;
    this.baseMentions = mentions;
    this.asOf = asOf;
    for (const [id, extra] of this.extras) if (extra.seq <= asOf) this.extras.delete(id);
  }

  // What the sidebar shows for the room.
  label() {
    return this.kind === "direct" && this.other ? displayNameOf(this.other) : this.name;
  }

  unread() {
    if (!this.joined || this.readSeq >= this.lastSeq) return 0;
    let n = this.readSeq >= this.asOf ? 0 : this.baseUnread;
    for (const extra of this.extras.values()) if (extra.seq > this.readSeq) n += 1;
    return n;
  }

  mentions() {
    if (!this.joined || this.readSeq >= this.lastSeq) return 0;
    let n = this.readSeq >= this.asOf ? 0 : this.baseMentions;
    for (const extra of this.extras.values()) if (extra.mention && extra.seq > this.readSeq) n += 1;
    return n;
  }
}

export class Store {
  constructor(username) {
    this.username = username;
    this.rooms = new Map(); // slug -> Room (joined, or the one watched)
    this.listeners = [];
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  changed() {
    this.listeners.forEach((listener) => listener());
  }

  get(slug) {
    return this.rooms.get(slug);
  }

  // hello: the joined rooms, replacing what was known. Returns the slugs dropped (left
  // or banned while the page was away).
  applyHello(entries) {
    const seen = new Set();
    for (const info of Array.isArray(entries) ? entries : []) {
      if (!info || typeof info.slug !== "string") continue;
      seen.add(info.slug);
      this.upsert(info, true);
    }
    const dropped = [];
    for (const [slug, room] of this.rooms) {
      if (room.joined && !seen.has(slug)) {
        room.joined = false;
        dropped.push(slug);
      }
    }
    this.changed();
    return dropped;
  }

  upsert(info, joined) {
    let room = this.rooms.get(info.slug);
    if (room) {
      room.update(info);
      room.joined = joined;
    } else {
      room = new Room(info, joined);
      this.rooms.set(info.slug, room);
    }
    room.lost = "";
    return room;
  }

  // room.read: exact counts as of last_seq.
  applyRead(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    const asOf = num(frame.last_seq, room.asOf);
    room.lastSeq = Math.max(room.lastSeq, asOf);
    room.readSeq = Math.max(room.readSeq, num(frame.last_read_seq, 0));
    room.setCounts(num(frame.unread, 0), num(frame.mentions, 0), asOf);
    this.changed();
  }

  // A message frame of the live stream (or a resume backlog).
  countMessage(slug, message) {
    const room = this.rooms.get(slug);
    if (!room || !message || !Number.isInteger(message.seq)) return;
    room.lastSeq = Math.max(room.lastSeq, message.seq);
    const mine = message.kind !== "system" && message.author === this.username;
    if (!mine && message.seq > room.asOf && Number.isInteger(message.id)) {
      room.extras.set(message.id, { seq: message.seq, mention: isMention(message, this.username) });
    }
    this.changed();
  }

  // message.updated: an edit may add or remove a mention of this user.
  recountUpdated(slug, message) {
    const room = this.rooms.get(slug);
    const extra = room && message && room.extras.get(message.id);
    if (!extra) return;
    extra.mention = isMention(message, this.username);
    this.changed();
  }

  uncountDeleted(slug, id) {
    const room = this.rooms.get(slug);
    if (room && room.extras.delete(id)) this.changed();
  }

  // The page showed messages up to seq: true when that moved the pointer.
  markRead(slug, seq) {
    const room = this.rooms.get(slug);
    if (!room || !room.joined || seq <= room.readSeq) return false;
    room.readSeq = Math.min(seq, Math.max(room.lastSeq, seq));
    this.changed();
    return true;
  }

  joined() {
    return Array.from(this.rooms.values())
      .filter((room) => room.joined)
      .sort(
        (a, b) =>
          KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
          a.label().localeCompare(b.label(), undefined, { sensitivity: "base" }) ||
          (a.slug < b.slug ? -1 : 1)
      );
  }

  // room.notify: the level was set (on any device of this user).
  applyLevel(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || typeof frame.level !== "string") return;
    room.notifyLevel = frame.level;
    this.changed();
  }

  totalUnread() {
    return this.joined().reduce((sum, room) => sum + room.unread(), 0);
  }
}
