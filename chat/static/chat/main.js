// The room page: one socket for every joined room (docs/protocol.md, "One connection for
// all rooms"), a sidebar of rooms with unread counts, and the room shown switched in
// place (history.pushState) without a reload or a reconnect. This module wires the
// others together and routes frames; it holds no message and parses no HTML.

import { Composer } from "./composer.js";
import { span } from "./dom.js";
import { PresenceView } from "./presence.js";
import { Profiles, avatarImage, nameParts } from "./profiles.js";
import { Sidebar } from "./sidebar.js";
import { Connection, State } from "./socket.js";
import { Store, setDisplayNames } from "./store.js";
import { Switcher } from "./switcher.js";
import { Timeline } from "./timeline.js";

const READ_DEBOUNCE_MS = 400;
const ANNOUNCED_KEPT = 3; // lines kept in the live region
const IDLE_TEXT = "paused — type or click to reconnect";
const NO_ACCESS_TEXT = "You no longer have access to this room.";
const ACCOUNT_REFUSED_TEXT = "Your account can no longer use the chat.";
const RETRYABLE_ERRORS = new Set(["internal_error"]);
// Errors saying this user may not read or write a room any more.
const ACCESS_ERRORS = new Set(["forbidden", "banned", "room_not_found"]);
const LEFT_NOTICES = {
  left: "You left this room.",
  removed: "You were removed from this room.",
  banned: "You were banned from this room.",
  forbidden: NO_ACCESS_TEXT,
  room_not_found: "This room no longer exists.",
};

const $ = (id) => document.getElementById(id);
const fromJson = (id) => JSON.parse($(id).textContent);

const initialSlug = fromJson("room-slug");
const maxBodyChars = fromJson("max-body-chars");
let username = fromJson("username");
let current = initialSlug;
let watching = null; // the public room previewed with room.watch, if any
let stoppedText = ""; // the account was refused (4403): nothing works any more
const store = new Store(username);
const profiles = new Profiles(); // display names and avatars, for the page's lifetime
setDisplayNames((name) => profiles.name(name));
const timelines = new Map(); // slug -> Timeline: rooms shown at least once
const readTimers = new Map(); // slug -> debounce timer of room.read

const roomEl = $("room");
const roomMain = $("room-main");
const statusEl = $("status");
const errorEl = $("error");
const noticeEl = $("room-notice");
const announcer = $("announcer");
const joinButton = $("join");
const leaveButton = $("leave");

function slugFromPath(path) {
  const match = /^\/chat\/([^/]+)\/$/.exec(path);
  return match ? decodeURIComponent(match[1]) : null;
}

// --- connection ---------------------------------------------------------------------------

const conn = new Connection({
  resumePoints: () => {
    const points = [];
    for (const [slug, timeline] of timelines) {
      const room = store.get(slug);
      if (room && room.joined && timeline.loaded && timeline.cursor !== null) {
        points.push([slug, timeline.cursor]);
      }
    }
    return points;
  },
  onHello,
  onFrame,
  onDown: () => {
    timelines.forEach((timeline) => timeline.onDown());
    composer.onDown();
    for (const room of store.rooms.values()) presence.typingClearAll(room);
    if (watching) watching = null; // a new socket watches nothing until asked again
  },
  onState: updateStatus,
  onStopped: () => {
    stoppedText = "no access";
    showError(ACCOUNT_REFUSED_TEXT);
    renderRoom();
  },
});

function updateStatus() {
  const state = conn.state();
  const text = {
    [State.CLOSED]: stoppedText || "closed",
    [State.CONNECTED]: "connected",
    [State.IDLE]: IDLE_TEXT,
    [State.OFFLINE]: "offline",
    [State.RECONNECTING]: "reconnecting…",
    [State.CONNECTING]: "connecting…",
  }[state];
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  presence.setStale(state !== State.CONNECTED);
}

function showError(text) {
  if (errorEl.textContent === text && errorEl.hidden === !text) return;
  const timeline = timelines.get(current);
  const keep = timeline && timeline.nearBottom(); // the error line takes room from the list
  errorEl.textContent = text;
  errorEl.hidden = !text;
  if (keep) timeline.scrollToBottom();
}

// --- the parts ----------------------------------------------------------------------------

const presence = new PresenceView(
  { aside: $("presence"), list: $("online"), count: $("online-count"), typing: $("typing") },
  (room) => room.slug === current,
  () => username,
  profiles
);

function timelineFor(slug) {
  let timeline = timelines.get(slug);
  if (!timeline) {
    timeline = new Timeline(slug, {
      fetch: (room, before, limit, purpose) =>
        conn.send(
          { type: "history.fetch", room, before, limit },
          { kind: "fetch", room, before, limit, purpose }
        ),
      change: (kind, frame) => {
        if (!conn.send(frame, { kind, id: frame.id })) {
          showError("Not connected: try again once the page has reconnected.");
          return false;
        }
        showError("");
        return true;
      },
      seen: () => readSoon(slug),
      settled: (room, clientId) => composer.settled(room, clientId),
      username: () => username,
      profile: (name) => profiles.get(name),
      maxBodyChars,
    });
    timelines.set(slug, timeline);
    composer.restore(slug);
  }
  return timeline;
}

// Before the first hello the room is unknown: what is typed waits in the outbox.
function canWrite(slug) {
  const room = store.get(slug);
  if (stoppedText) return false;
  return room ? room.joined && !room.lost : !conn.everConnected;
}

const composer = new Composer(
  {
    conn,
    store,
    current: () => current,
    timeline: (slug) => timelines.get(slug),
    canWrite,
    showError,
    username: () => username,
  },
  {
    form: $("composer"),
    input: $("body"),
    attach: $("attach"),
    fileInput: $("image-input"),
    dropZone: roomEl,
    maxImageBytes: Number($("composer").dataset.maxImageBytes) || 0,
  }
);

const sidebar = new Sidebar(
  store,
  {
    nav: $("sidebar"),
    rooms: $("room-list"),
    dms: $("dm-list"),
    dmsSection: $("dm-section"),
    preview: $("preview-list"),
    previewSection: $("preview-section"),
    toggle: $("sidebar-toggle"),
    toggleCount: $("toggle-count"),
  },
  (slug) => switchTo(slug, true)
);
sidebar.current = current;

new Switcher(
  { dialog: $("switcher"), input: $("switcher-input"), list: $("switcher-list"), opener: $("switcher-open") },
  () => store.joined(),
  (slug) => {
    switchTo(slug, true);
    const input = $("body");
    if (!input.disabled) input.focus();
    else $("room-name").focus();
  }
);

store.onChange(renderSidebar);

function renderSidebar() {
  const room = store.get(current);
  sidebar.render(room && !room.joined && !room.lost ? room : null);
}

// --- profiles -------------------------------------------------------------------------------
// Every place that shows a user follows their profile: messages (in every room held), the
// online list and typing line of the room shown, direct rooms in the sidebar, the header.

const meEl = document.querySelector("header.top .me");

function renderMe() {
  const profile = profiles.get(username);
  if (!meEl || !profile) return;
  const name = document.createElement("span");
  nameParts(name, username, profile);
  meEl.replaceChildren(avatarImage(profile, ""), name);
}

function wantDirectProfiles() {
  profiles.want(store.joined().filter((room) => room.kind === "direct" && room.other).map((room) => room.other));
}

profiles.onChange((usernames) => {
  timelines.forEach((timeline) => timeline.refreshAuthors(usernames));
  presence.refresh(store.get(current), usernames);
  if (usernames.has(username)) renderMe();
  if (store.joined().some((room) => room.kind === "direct" && usernames.has(room.other))) store.changed();
});

// --- the room shown -----------------------------------------------------------------------

function renderHeader(room) {
  const head = statusEl.parentElement;
  head.querySelectorAll(":scope > .tags, :scope > .topic, :scope > .manage").forEach((el) => el.remove());
  $("room-name").textContent = room.name;
  const tags = [];
  if (room.kind === "direct") tags.push(span("tag", "direct"));
  else if (room.kind === "private") tags.push(span("tag", "private"));
  if (room.locked) {
    const locked = span("tag locked", "locked");
    locked.title = "Only staff can write here";
    tags.push(locked);
  }
  const before = statusEl;
  if (tags.length) {
    const p = document.createElement("p");
    p.className = "tags";
    tags.forEach((tag, i) => p.append(...(i ? [" ", tag] : [tag])));
    head.insertBefore(p, before);
  }
  if (room.topic) {
    const p = document.createElement("p");
    p.className = "topic";
    p.textContent = room.topic;
    head.insertBefore(p, before);
  }
  if (room.kind === "private" && room.canManage) {
    const link = document.createElement("a");
    link.className = "manage";
    link.href = `/chat/${encodeURIComponent(room.slug)}/members/`;
    link.textContent = "Members";
    head.insertBefore(link, before);
  }
}

// Everything about the room shown that depends on its state: header, Join/Leave,
// notice, composer.
function renderRoom() {
  const room = store.get(current);
  if (room) renderHeader(room);
  const lost = room ? room.lost : "";
  const writable = canWrite(current);
  // For styles and tests: what the page knows of the room shown.
  roomEl.dataset.roomState = !room ? "unknown" : lost ? "lost" : room.joined ? "joined" : "preview";
  const timeline = timelines.get(current);
  roomEl.dataset.loaded = String(!!timeline && timeline.loaded);
  joinButton.hidden = !(room && !room.joined && room.kind === "public" && !stoppedText && lost !== "banned");
  leaveButton.hidden = !(room && room.joined && room.kind !== "direct" && !stoppedText);
  const notice = lost ? LEFT_NOTICES[lost] || NO_ACCESS_TEXT : room && !room.joined ? "You are previewing this room. Join it to write here." : "";
  noticeEl.textContent = notice;
  noticeEl.hidden = !notice;
  const name = room ? room.name : $("room-name").textContent;
  composer.setEnabled(
    writable,
    // A preview keeps the room's placeholder (the notice says to join first).
    lost || stoppedText ? "You cannot write here." : `Message ${name} (paste or drop an image to send it)`
  );
  renderSidebar();
}

function showTimeline(timeline) {
  const shown = roomMain.querySelector(":scope > ol");
  if (shown === timeline.list) return;
  if (shown) {
    const previous = [...timelines.values()].find((t) => t.list === shown);
    if (previous) previous.scrollTop = shown.scrollTop;
    shown.removeAttribute("id");
    shown.replaceWith(timeline.list);
  } else {
    roomMain.prepend(timeline.list);
  }
  timeline.list.id = "messages";
}

// Show the room `current` names: its messages (read once with history.fetch, then live),
// who is online, and the "New messages" line. `switched`: the user came to it just now
// (after a reconnect the view stays where it was).
function openRoom(switched = false) {
  const slug = current;
  const room = store.get(slug);
  const timeline = timelineFor(slug);
  const hadScroll = timeline.scrollTop;
  showTimeline(timeline);
  presence.show(room);
  renderRoom();
  if (!conn.ready) return; // the next hello opens it
  if (!room || (!room.joined && watching !== slug)) {
    if (!room || !room.lost) watch(slug);
    return;
  }
  if (!timeline.loaded) {
    timeline.openedRead = room.readSeq;
    timeline.load(room.lastSeq);
  } else if (switched) {
    // Back to a room already held: the line where the unread begin, or where it was.
    const marked = room.unread() > 0 && timeline.placeMarker(room.readSeq);
    if (!marked) timeline.clearMarker();
    if (marked || hadScroll === null) timeline.scrollForOpen();
    else timeline.list.scrollTop = hadScroll;
  }
  conn.send({ type: "online.fetch", room: slug }, { kind: "online", room: slug });
  readSoon(slug);
}

function watch(slug) {
  if (conn.send({ type: "room.watch", room: slug }, { kind: "watch", room: slug })) watching = slug;
}

function switchTo(slug, push) {
  if (!slug || slug === current) return;
  if (push) history.pushState({ slug }, "", `/chat/${encodeURIComponent(slug)}/`);
  const previous = current;
  current = slug;
  sidebar.current = slug;
  showError("");
  const left = store.get(previous);
  if (left && !left.joined) {
    // A preview (or a room lost while shown) is not kept: its events stop.
    if (watching === previous) {
      conn.send({ type: "room.watch", room: null });
      watching = null;
    }
    store.rooms.delete(previous);
    timelines.delete(previous);
  }
  openRoom(true);
}

window.addEventListener("popstate", () => {
  const slug = slugFromPath(location.pathname);
  if (slug) switchTo(slug, false);
});

joinButton.addEventListener("click", () => {
  conn.send({ type: "room.join", room: current }, { kind: "join", room: current });
});
leaveButton.addEventListener("click", () => {
  conn.send({ type: "room.leave", room: current }, { kind: "leave", room: current });
});

// --- reading --------------------------------------------------------------------------------
// The read pointer moves for messages that were on screen while the tab was visible, not
// for messages merely received; room.read goes at most every READ_DEBOUNCE_MS per room.

function readSoon(slug) {
  if (slug !== current || document.visibilityState !== "visible") return;
  const room = store.get(slug);
  const timeline = timelines.get(slug);
  if (!room || !room.joined || room.lost || !timeline || !timeline.loaded) return;
  const top = timeline.highestInView();
  if (!store.markRead(slug, top)) return;
  if (readTimers.has(slug)) return;
  readTimers.set(slug, setTimeout(() => sendRead(slug), READ_DEBOUNCE_MS));
}

function sendRead(slug) {
  clearTimeout(readTimers.get(slug));
  readTimers.delete(slug);
  const now = store.get(slug);
  if (now && now.joined) conn.send({ type: "room.read", room: slug, seq: now.readSeq });
}

document.addEventListener("visibilitychange", () => readSoon(current));
// Leaving the page (a link, a reload) must not lose what was read in the last moments.
window.addEventListener("pagehide", () => [...readTimers.keys()].forEach(sendRead));

function announce(message) {
  const line = document.createElement("p");
  line.textContent =
    message.kind === "system" ? `Announcement: ${message.body}` : `${profiles.name(message.author)}: ${message.body}`;
  announcer.append(line);
  while (announcer.childElementCount > ANNOUNCED_KEPT) announcer.firstElementChild.remove();
}

// --- frames ---------------------------------------------------------------------------------

function onHello(frame) {
  const helloUser = frame.user && frame.user.username;
  if (helloUser && username && helloUser !== username) {
    location.reload(); // a login as someone else in another tab: start over as them
    return;
  }
  if (helloUser) username = store.username = helloUser;
  profiles.put(frame.user);
  renderMe();
  const entries = Array.isArray(frame.rooms) ? frame.rooms : [];
  const dropped = store.applyHello(entries);
  for (const slug of dropped) {
    const room = store.get(slug);
    if (slug === current) {
      if (room) room.lost = "left"; // left or banned while away: the hello no longer has it
    } else {
      store.rooms.delete(slug);
      timelines.delete(slug);
    }
  }
  const joined = [];
  for (const info of entries) {
    if (!info || typeof info.slug !== "string") continue;
    joined.push(info.slug);
    const timeline = timelines.get(info.slug);
    if (timeline) timeline.onHello(info.resumed, Number(info.last_seq) || 0);
  }
  composer.onHello(joined);
  wantDirectProfiles();
  openRoom();
}

function roomOf(frame) {
  if (typeof frame.room === "string") return frame.room;
  if (frame.message && typeof frame.message.room === "string") return frame.message.room;
  return null;
}

function onFrame(frame, tag) {
  const slug = roomOf(frame);
  const room = slug !== null ? store.get(slug) : undefined;
  const timeline = slug !== null ? timelines.get(slug) : undefined;
  switch (frame.type) {
    case "message": {
      const message = frame.message;
      if (!message || !Number.isInteger(message.seq)) break;
      profiles.fromMessage(message);
      if (timeline) timeline.live(message);
      store.countMessage(slug, message);
      if (room && typeof message.author === "string") presence.typingStopped(room, message.author);
      if (slug === current && message.author !== username) announce(message);
      break;
    }
    case "ack": {
      profiles.fromMessage(frame.message);
      if (timeline) {
        const keep = timeline.nearBottom();
        timeline.insert(frame.message);
        if (keep) timeline.scrollToBottom();
      } else if (slug && frame.message) {
        composer.settled(slug, frame.client_id);
      }
      composer.pump();
      break;
    }
    case "history": {
      const target = tag && tag.room ? timelines.get(tag.room) : timeline;
      if (!target || !tag) break;
      const messages = Array.isArray(frame.messages) ? frame.messages : [];
      messages.forEach((message) => profiles.fromMessage(message));
      const fresh = target.onHistory(messages, tag);
      if (fresh && target.slug === current) {
        const shown = store.get(current);
        const marked =
          shown && shown.joined && shown.unread() > 0 && target.placeMarker(target.openedRead ?? shown.readSeq);
        if (!marked) target.clearMarker();
        target.scrollForOpen();
        target.maybeLoadOlder();
        roomEl.dataset.loaded = "true";
        readSoon(current);
      }
      break;
    }
    case "message.updated":
      profiles.fromMessage(frame.message);
      if (timeline) timeline.update(frame.message);
      store.recountUpdated(slug, frame.message);
      break;
    case "message.deleted":
      if (timeline) timeline.remove(frame.id, frame.seq);
      else timelines.forEach((t) => t.remove(frame.id, frame.seq));
      store.uncountDeleted(slug, frame.id);
      break;
    case "presence":
      if (room) presence.applyPresence(room, frame);
      break;
    case "typing":
      if (room && typeof frame.user === "string") presence.typingStarted(room, frame.user);
      break;
    case "online":
      if (room) presence.setOnline(room, frame);
      break;
    case "room.read":
      store.applyRead(frame);
      break;
    case "user.updated":
      profiles.put(frame.user);
      break;
    case "room.joined":
      onJoined(frame.room);
      break;
    case "room.watching":
      onWatching(frame.room);
      break;
    case "room.left":
      onLeft(slug, typeof frame.reason === "string" ? frame.reason : "left");
      break;
    case "error":
      onError(frame, tag, slug);
      break;
  }
}

function onJoined(info) {
  if (!info || typeof info.slug !== "string") return;
  const slug = info.slug;
  if (watching === slug) watching = null; // joining ends the watch
  const timeline = timelines.get(slug);
  store.upsert(info, true);
  // Its stream on this socket starts after last_seq now: read what lies between.
  if (timeline) timeline.onHello(undefined, Number(info.last_seq) || 0);
  composer.onHello([...store.joined().map((r) => r.slug)]);
  wantDirectProfiles();
  if (slug === current) openRoom();
  else renderSidebar();
}

function onWatching(info) {
  if (!info || typeof info.slug !== "string") return;
  const slug = info.slug;
  if (slug !== current || store.get(slug)?.joined) {
    if (watching === slug && slug !== current) conn.send({ type: "room.watch", room: null });
    return;
  }
  watching = slug;
  const timeline = timelines.get(slug);
  store.upsert(info, false);
  if (timeline) timeline.onHello(undefined, Number(info.last_seq) || 0);
  openRoom();
}

function onLeft(slug, reason) {
  const room = store.get(slug);
  if (!room) return;
  room.joined = false;
  if (slug !== current) {
    store.rooms.delete(slug);
    timelines.delete(slug);
    store.changed();
    return;
  }
  room.lost = reason;
  if (reason !== "left") {
    const timeline = timelines.get(slug);
    if (timeline) timeline.freeze();
    composer.failAll(slug, NO_ACCESS_TEXT);
  }
  store.changed();
  renderRoom();
}

function onError(frame, tag, slug) {
  const detail = typeof frame.detail === "string" ? frame.detail : String(frame.code);
  const about = (tag && tag.room) || slug;
  const access = ACCESS_ERRORS.has(frame.code);
  if (tag && tag.kind === "send") {
    composer.onSendError(tag, frame, detail);
  } else if (tag && (tag.kind === "edit" || tag.kind === "delete")) {
    timelines.forEach((t) => t.changeFailed(tag));
  } else if (tag && tag.kind === "fetch") {
    const target = timelines.get(tag.room);
    if (target) target.onFetchFailed(tag, RETRYABLE_ERRORS.has(frame.code));
  } else if (tag && tag.kind === "watch" && watching === tag.room) {
    watching = null;
  }
  if (access && about) {
    // This room is out of reach now (a ban, a removal, a deletion): the socket stays
    // open for the others.
    const room = store.get(about);
    if (room) {
      room.joined = false;
      room.lost = frame.code === "banned" ? "banned" : frame.code;
    }
    const timeline = timelines.get(about);
    if (timeline) timeline.freeze();
    composer.failAll(about, NO_ACCESS_TEXT);
    store.changed();
    if (about === current) {
      showError(frame.code === "room_not_found" ? LEFT_NOTICES.room_not_found : NO_ACCESS_TEXT);
      renderRoom();
    }
    return;
  }
  if (!about || about === current) showError(detail);
}

// --- start ------------------------------------------------------------------------------------

history.replaceState({ slug: current }, "", location.href);
openRoom();
updateStatus();
conn.connect();
window.chatPage = { conn, store, profiles }; // for the curious (and the browser tests)
