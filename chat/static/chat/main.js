// The room page: one socket for every joined room (docs/protocol.md, "One connection for
// all rooms"), a sidebar of rooms with unread counts, and the room shown switched in
// place (history.pushState) without a reload or a reconnect. This module wires the
// others together and handles hello (frames.js routes the rest); it holds no message.

import { Composer } from "./composer.js";
import { CommandCompletion } from "./commandcomplete.js";
import { EmojiCompletion } from "./emojicomplete.js";
import { frameRouter } from "./frames.js";
import { helloRooms } from "./hello.js";
import { JumpLatest } from "./jumplatest.js";
import { relabelAtMidnight } from "./listdecor.js";
import { MentionPicker } from "./mentionpicker.js";
import { Navigation } from "./navigation.js";
import { Notifier } from "./notifications.js";
import { pushEnable, pushState } from "./push.js";
import { PeopleParts, directOnline } from "./peoplewiring.js";
import { PresenceView } from "./presence.js";
import { ProfileViews } from "./profileviews.js";
import { Profiles } from "./profiles.js";
import { ReadTracker } from "./reading.js";
import { Replies } from "./replies.js";
import { RoomView } from "./roomview.js";
import { SearchPanel } from "./search.js";
import { Sidebar } from "./sidebar.js";
import { Connection, STATE_TEXT, State } from "./socket.js";
import { Store, setDisplayNames } from "./store.js";
import { Switcher } from "./switcher.js";
import { ThreadParts } from "./threadparts.js";
import { threadFromLocation } from "./threadpanel.js";
import { sendChange, timelineMaker } from "./roomtimeline.js";
import { Timeline } from "./timeline.js";

const ACCOUNT_REFUSED_TEXT = "Your account can no longer use the chat.";

const $ = (id) => document.getElementById(id);
const fromJson = (id) => JSON.parse($(id).textContent);

const initialSlug = fromJson("room-slug");
const maxBodyChars = fromJson("max-body-chars");
let username = fromJson("username");
let stoppedText = ""; // the account was refused (4403): nothing works any more
const store = new Store(username);
const profiles = new Profiles(); // display names and avatars, for the page's lifetime
setDisplayNames((name) => profiles.name(name));
const timelines = new Map(); // slug -> Timeline: rooms shown at least once

const roomEl = $("room");
const statusEl = $("status");

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
  onFrame: (frame, tag) => routeFrame(frame, tag),
  onDown: () => {
    timelines.forEach((timeline) => timeline.onDown());
    composer.onDown();
    for (const room of store.rooms.values()) presence.typingClearAll(room);
    if (nav.watching) nav.watching = null; // a new socket watches nothing until asked again
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
  statusEl.dataset.state = state;
  statusEl.textContent = (state === State.CLOSED && stoppedText) || STATE_TEXT[state];
  presence.setStale(state !== State.CONNECTED);
}

// --- the parts ----------------------------------------------------------------------------

const view = new RoomView(
  {
    store,
    timelines,
    current: () => nav.current,
    canWrite,
    stopped: () => stoppedText,
    composer: () => composer,
    renderSidebar,
  },
  {
    room: roomEl,
    name: $("room-name"),
    status: statusEl,
    error: $("error"),
    notice: $("room-notice"),
    join: $("join"),
    leave: $("leave"),
  }
);
const showError = (text) => view.showError(text);
const renderRoom = () => view.render();

const presence = new PresenceView(
  { aside: $("presence"), list: $("online"), count: $("online-count"), typing: $("typing") },
  (room) => room.slug === nav.current,
  () => username,
  profiles,
  (room) => {
    if (room.kind === "direct") renderSidebar(); // its presence dot
  }
);

const reading = new ReadTracker({ store, conn, timelines, current: () => nav.current, covered: () => threads.coversRoom() });
const readSoon = (slug) => reading.soon(slug);

// A room's Timeline, made once (roomtimeline.js); the parts made below are read lazily.
const timelineFor = timelineMaker({
  Timeline,
  conn,
  store,
  timelines,
  composer: () => composer,
  jumpLatest: () => jumpLatest,
  threads: () => threads,
  readSoon,
  canWrite,
  showError,
  username: () => username,
  profiles,
  maxBodyChars,
});

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
    current: () => nav.current,
    timeline: (slug) => timelines.get(slug),
    canWrite,
    showError,
    username: () => username,
    replyTo: (slug) => replies.take(slug),
    threadTimeline: (slug, root) => (threads.panel.shows(slug, root) ? threads.panel.timeline : null),
  },
  {
    form: $("composer"),
    input: $("body"),
    attach: $("attach"),
    emoji: $("emoji-open"),
    fileInput: $("image-input"),
    dropZone: roomEl,
    maxFileBytes: Number($("composer").dataset.maxFileBytes) || 0,
  }
);

relabelAtMidnight(() => [...timelines.values()].map((timeline) => timeline.list));

const jumpLatest = new JumpLatest($("jump-latest"), {
  current: () => nav.current,
  timeline: (slug) => timelines.get(slug),
});

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
    dmsEmpty: $("dm-empty"),
    unreadFirst: $("sidebar-unread-first"),
    roomsAdd: $("rooms-add"),
    roomsMenu: $("rooms-add-menu"),
    dmsAdd: $("dm-add"),
  },
  (slug) => nav.switchTo(slug, true),
  {
    profiles,
    online: directOnline,
    loaded: () => conn.everConnected,
    startDirect: () => people.picker.open(),
  }
);

const people = new PeopleParts({
  store,
  conn,
  profiles,
  sidebar,
  username: () => username,
  current: () => nav.current,
  switchTo: (slug) => nav.switchTo(slug, true),
});

const nav = new Navigation(
  initialSlug,
  {
    store,
    conn,
    timelines,
    timelineFor,
    presence,
    composer,
    sidebar,
    render: () => {
      renderRoom();
      jumpLatest.render();
      notifier.render();
      replies.render();
      threads.onRoomShown();
    },
    renderSidebar,
    showError,
    readSoon,
    wantDirectProfiles: () => profileViews.wantDirect(),
  },
  { main: $("room-main"), join: $("join"), leave: $("leave") }
);

new Switcher(
  { dialog: $("switcher"), input: $("switcher-input"), list: $("switcher-list"), opener: $("switcher-open") },
  () => store.joined(),
  (slug) => {
    nav.switchTo(slug, true);
    const input = $("body");
    if (!input.disabled) input.focus();
    else $("room-name").focus();
  }
);

// --- notifications ----------------------------------------------------------------------------

const notifier = new Notifier(
  {
    store,
    conn,
    username: () => username,
    current: () => nav.current,
    open: (slug, seq, thread) => openAt(slug, seq, thread),
    name: (name) => profiles.name(name),
    push: { enable: pushEnable, state: pushState },
  },
  {
    menu: $("notify-menu"),
    levels: Array.from(document.querySelectorAll("input[name=notify-level]")),
    defaultText: $("notify-default"),
    pause: $("notify-pause"),
    pausedNote: $("notify-paused-note"),
    desktop: $("notify-desktop"),
    desktopState: $("notify-desktop-state"),
    sound: $("notify-sound"),
  }
);
// Show a message of a room being opened (a notification's, an email's link, a search
// result): once the room's history is there, read around it if it is not held. A reply
// in a thread (`thread`: its root) opens in the thread's panel.
function revealSoon(slug, seq) {
  timelineFor(slug).jumpTo(seq);
}
function openAt(slug, seq, thread = null) {
  if (Number.isInteger(thread)) return threads.open(slug, thread, { at: seq });
  nav.switchTo(slug, true);
  revealSoon(slug, seq);
}

new SearchPanel(
  {
    open: openAt,
    roomName: (slug) => (store.get(slug) ? store.get(slug).label() : null),
    name: (name) => profiles.name(name),
  },
  {
    form: $("search-form"),
    input: $("search-input"),
    sort: $("search-sort"),
    panel: $("search-results"),
    list: $("search-list"),
    status: $("search-status"),
    close: $("search-close"),
  }
);

const replies = new Replies(
  { current: () => nav.current, timeline: (slug) => timelines.get(slug), canWrite, name: (n) => profiles.name(n) },
  {
    root: roomEl,
    bar: $("reply-bar"),
    author: $("reply-bar-author"),
    excerpt: $("reply-bar-excerpt"),
    cancel: $("reply-cancel"),
    input: $("body"),
  }
);

const picker = new MentionPicker(
  { send: (frame, tag) => conn.send(frame, tag), current: () => nav.current },
  { input: $("body"), list: $("mention-list") }
);
new EmojiCompletion({ input: $("body"), list: $("emoji-complete-list") });
new CommandCompletion({ input: $("body"), list: $("command-list") }, () => composer.commands);

store.onChange(() => {
  renderSidebar();
  notifier.render();
  people.onStoreChange();
});

function renderSidebar() {
  const room = store.get(nav.current);
  sidebar.render(room && !room.joined && !room.lost ? room : null);
}

// --- profiles -------------------------------------------------------------------------------

const profileViews = new ProfileViews(
  { profiles, store, timelines, presence, current: () => nav.current, username: () => username },
  document.querySelector("header.top .me")
);

// --- threads (threadparts.js) -------------------------------------------------------------------

const threads = new ThreadParts({
  ...{ Timeline, conn, store, profiles, composer, nav, timelines, canWrite, showError, maxBodyChars, notifier, readSoon },
  username: () => username,
  change: (kind, frame) => sendChange(conn, showError, kind, frame),
});

// --- frames ---------------------------------------------------------------------------------

const routeFrame = frameRouter({
  store,
  profiles,
  timelines,
  presence,
  composer,
  nav,
  view,
  reading,
  username: () => username,
  roomEl,
  announcer: $("announcer"),
  notifier,
  picker,
  threads,
});

function onHello(frame) {
  const helloUser = frame.user && frame.user.username;
  if (helloUser && username && helloUser !== username) {
    location.reload(); // a login as someone else in another tab: start over as them
    return;
  }
  if (helloUser) username = store.username = helloUser;
  profiles.put(frame.user);
  profileViews.renderMe();
  notifier.setPrefs(frame.notify);
  const joined = helloRooms(frame, { store, timelines, current: nav.current });
  composer.setCommands(frame.commands);
  composer.onHello(joined);
  profileViews.wantDirect();
  nav.open();
  people.onHello();
  threads.onHello(frame);
}

// --- start ------------------------------------------------------------------------------------

history.replaceState({ slug: nav.current }, "", location.href);
nav.open();
const linkedSeq = Number(new URLSearchParams(location.search).get("seq")); // ?seq=N: that message
const linkedThread = threadFromLocation(); // ?thread=<root id>: in that thread's panel
const at = Number.isInteger(linkedSeq) && linkedSeq > 0 ? linkedSeq : null;
if (linkedThread !== null) threads.open(nav.current, linkedThread, { history: "none", focus: false, at });
else if (at !== null) revealSoon(nav.current, at);
updateStatus();
conn.connect();
window.chatPage = { conn, store, profiles, notifier }; // for the curious (and the browser tests)
