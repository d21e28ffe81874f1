// Notifications in the page: the level of each room (set here, stored on the server,
// the same on every device), do not disturb, and what a message that asks for
// attention does while the tab is hidden: a browser notification (once the user allowed
// them, from a click), a title flash and, if chosen, a sound. The sidebar's badges are
// sidebar.js's. Web Push (no tab open) is push.js and the service worker's.

import { notificationTag } from "./push.js";
import { isMention } from "./mentions.js";
import { routeOf } from "./threadstate.js";

const FLASH_EVERY_MS = 1000;
const FLASH_MARK = "\u{1F514} ";
const SOUND_KEY = "chat:sound";
const BODY_CHARS = 140;
const LEVEL_TEXT = { all: "all messages", mentions: "mentions", nothing: "nothing" };

// The level that applies: the member's choice, else all in a DM, mentions elsewhere.
export function effectiveLevel(room) {
  if (room.notifyLevel) return room.notifyLevel;
  return room.kind === "direct" ? "all" : "mentions";
}

// Whether a message should draw attention, by the rules of docs/protocol.md. A reply
// kept in its thread (`thread`: {followed, replies: the "replies in threads I follow"
// setting}) is not one of the room's messages: it asks for attention when it mentions
// the user or when they follow its thread, unless the room's level is "nothing".
export function wantsAttention(room, message, username, pausedUntil, now = Date.now(), thread = null) {
  if (!room || !room.joined || !message) return false;
  if (message.kind !== "system" && message.author === username) return false;
  if (pausedUntil !== null && pausedUntil > now) return false;
  const level = effectiveLevel(room);
  if (thread) return level !== "nothing" && ((thread.followed && thread.replies) || isMention(message, username));
  return level === "all" || (level === "mentions" && isMention(message, username));
}

// deps: store, conn, username() -> string, current() -> slug, open(slug, seq, thread)
// (thread: the root of a reply kept in its thread, else null), label(slug),
// name(username) -> display name, push (optional: push.js's {enable(), state()})
// els: menu (<details>), levels (radio inputs), defaultText, pause (<select>), pausedNote,
// desktop (button), desktopState, sound (checkbox)
export class Notifier {
  constructor(deps, els) {
    this.deps = deps;
    this.els = els;
    this.pausedUntil = null; // ms since the epoch, or null
    this.flashTimer = null;
    this.audio = null;
    els.levels.forEach((input) =>
      input.addEventListener("change", () => {
        if (input.checked) this.setLevel(input.value);
      })
    );
    els.pause.addEventListener("change", () => this.pauseFor(els.pause.value));
    els.desktop.addEventListener("click", () => this.enableDesktop());
    els.sound.checked = this.soundOn();
    els.sound.addEventListener("change", () => this.setSound(els.sound.checked));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.stopFlash();
    });
    window.addEventListener("focus", () => this.stopFlash());
    this.renderDesktop();
  }

  // hello.notify and notify.prefs frames.
  setPrefs(prefs) {
    if (!prefs || typeof prefs !== "object") return;
    const until = typeof prefs.paused_until === "string" ? Date.parse(prefs.paused_until) : NaN;
    this.pausedUntil = Number.isFinite(until) ? until : null;
    if (typeof prefs.thread_replies === "boolean") this.threadReplies = prefs.thread_replies;
    this.render();
  }

  paused() {
    return this.pausedUntil !== null && this.pausedUntil > Date.now();
  }

  // A live message of a joined room.
  // `followed`: for a reply kept in its thread, whether the user follows the thread.
  onMessage(slug, message, followed = null) {
    const room = this.deps.store.get(slug);
    const thread = followed === null ? null : { followed, replies: this.threadReplies !== false };
    if (!wantsAttention(room, message, this.deps.username(), this.pausedUntil, Date.now(), thread)) return;
    if (!document.hidden) return; // in view: the timeline and the badges show it
    this.flash();
    if (this.soundOn()) this.beep();
    this.desktopNotify(slug, room, message);
  }

  desktopNotify(slug, room, message) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const author = message.kind === "system" ? "Announcement" : this.deps.name(message.author);
    const where = room.kind === "direct" ? author : `${author} in ${room.label()}`;
    const body = typeof message.body === "string" ? message.body.slice(0, BODY_CHARS) : "";
    // One notification per room at a time (the same tag as Web Push's): a burst
    // replaces rather than stacks.
    const note = new Notification(where, { body, tag: notificationTag(slug), data: { room: slug, seq: message.seq } });
    note.addEventListener("click", () => {
      window.focus();
      this.deps.open(slug, message.seq, routeOf(message).room ? null : message.thread);
      note.close();
    });
  }

  flash() {
    if (this.flashTimer !== null) return;
    let on = false;
    this.flashTimer = setInterval(() => {
      on = !on;
      const base = document.title.startsWith(FLASH_MARK) ? document.title.slice(FLASH_MARK.length) : document.title;
      document.title = on ? FLASH_MARK + base : base;
    }, FLASH_EVERY_MS);
  }

  stopFlash() {
    if (this.flashTimer === null) return;
    clearInterval(this.flashTimer);
    this.flashTimer = null;
    if (document.title.startsWith(FLASH_MARK)) document.title = document.title.slice(FLASH_MARK.length);
  }

  soundOn() {
    try {
      return localStorage.getItem(SOUND_KEY) === "on";
    } catch {
      return false;
    }
  }

  setSound(on) {
    try {
      localStorage.setItem(SOUND_KEY, on ? "on" : "off");
    } catch {
      // private mode: the choice lasts as long as the page
    }
    if (on && !this.audio && window.AudioContext) this.audio = new AudioContext(); // from a click: allowed
  }

  beep() {
    if (!this.audio) return;
    const tone = this.audio.createOscillator();
    const gain = this.audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, this.audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
    tone.connect(gain).connect(this.audio.destination);
    tone.start();
    tone.stop(this.audio.currentTime + 0.25);
  }

  // From a click only: browsers refuse (and remember) a request made on page load.
  async enableDesktop() {
    if (!("Notification" in window)) return;
    if (Notification.permission !== "granted") await Notification.requestPermission();
    if (Notification.permission === "granted" && this.deps.push) {
      try {
        await this.deps.push.enable();
      } catch {
        // push unavailable (no VAPID key, no service worker): notifications in the tab still work
      }
    }
    this.renderDesktop();
  }

  setLevel(level) {
    const slug = this.deps.current();
    if (!this.deps.conn.send({ type: "notify.set", room: slug, level }, { kind: "notify", room: slug })) {
      this.render(); // not connected: show what the server has
    }
  }

  pauseFor(choice) {
    let until = null;
    const now = new Date();
    if (choice === "1h") until = new Date(now.getTime() + 3600e3);
    else if (choice === "8h") until = new Date(now.getTime() + 8 * 3600e3);
    else if (choice === "tomorrow") {
      until = new Date(now);
      until.setDate(until.getDate() + 1);
      until.setHours(8, 0, 0, 0);
    } else if (choice === "keep") return;
    this.deps.conn.send({ type: "notify.pause", until: until ? until.toISOString() : null }, { kind: "notify" });
  }

  // The menu shows the current room's level and the pause, as the server has them.
  render() {
    const room = this.deps.store.get(this.deps.current());
    const usable = !!(room && room.joined);
    this.els.levels.forEach((input) => {
      input.disabled = !usable;
      input.checked = usable && input.value === (room.notifyLevel || "");
    });
    if (room) this.els.defaultText.textContent = room.kind === "direct" ? LEVEL_TEXT.all : LEVEL_TEXT.mentions;
    const pause = this.els.pause;
    let keep = pause.querySelector("option[value=keep]");
    if (this.paused()) {
      if (!keep) {
        keep = document.createElement("option");
        keep.value = "keep";
        pause.prepend(keep);
      }
      keep.textContent = `Paused until ${new Date(this.pausedUntil).toLocaleString()}`;
      pause.value = "keep";
      this.els.pausedNote.hidden = false;
    } else {
      if (keep) keep.remove();
      pause.value = "";
      this.els.pausedNote.hidden = true;
    }
    this.els.menu.classList.toggle("paused", this.paused());
  }

  // The button shows while a click can still turn something on: the permission, or
  // Web Push for this device (notifications with no tab open).
  async renderDesktop() {
    const supported = "Notification" in window;
    const permission = supported ? Notification.permission : "unsupported";
    let push = "unavailable";
    if (supported && this.deps.push) {
      try {
        push = await this.deps.push.state();
      } catch {
        push = "unavailable";
      }
    }
    const granted = permission === "granted";
    this.els.desktop.hidden = !supported || permission === "denied" || (granted && push !== "disabled");
    this.els.desktop.textContent = granted ? "Also notify me when no tab is open" : "Turn on desktop notifications";
    this.els.desktopState.textContent = !supported
      ? "This browser cannot show notifications."
      : granted
        ? `Desktop notifications are on.${push === "enabled" ? " This device also gets them with no tab open." : ""}`
        : permission === "denied"
          ? "Notifications are blocked in this browser's site settings."
          : "";
  }
}
