// Threads' pure rules (docs/protocol.md, "Threads"; docs/page.md, "Threads"): where a
// live message goes (the room's list, a thread, or both), which thread.state frame is
// the newest, which summary of a root to keep, and the words of a summary. No DOM and
// no socket: tests/js/threadstate.test.mjs runs it in node.

import { dayKey, shortTime } from "./grouping.js";

// Where a message of the stream belongs: `room` (the room's timeline: top-level
// messages and replies sent "also to the room") and `thread` (the root id, or null).
export function routeOf(message) {
  const thread = message && Number.isInteger(message.thread) ? message.thread : null;
  return { room: thread === null || message.also_to_room === true, thread };
}

// The key of one thread in maps: a root id is unique, the room is kept for reading.
export function threadKey(room, root) {
  return `${room}:${root}`;
}

function count(value) {
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

// A summary as the wire gives it, cleaned: {replies, lastReplyAt (ms or NaN),
// participants (usernames, most recent first), lastSeq}; null for none.
export function cleanSummary(raw) {
  if (!raw || typeof raw !== "object") return null;
  const participants = Array.isArray(raw.participants)
    ? raw.participants.filter((name) => typeof name === "string" && name).slice(0, 5)
    : [];
  return {
    replies: count(raw.replies),
    lastReplyAt: typeof raw.last_reply_at === "string" ? Date.parse(raw.last_reply_at) : NaN,
    lastReplyIso: typeof raw.last_reply_at === "string" ? raw.last_reply_at : "",
    participants,
    lastSeq: count(raw.last_seq),
  };
}

// The summary to keep for a root: `incoming` from a live thread.updated always wins
// (it comes in stream order, and a deletion may lower last_seq); one carried by a
// message (history, a resume) wins unless the one held is newer by last_seq.
export function pickSummary(held, incoming, live) {
  if (!incoming) return held ?? null;
  if (live || !held) return incoming;
  return incoming.lastSeq >= held.lastSeq ? incoming : held;
}

// "1 reply", "12 replies".
export function repliesText(replies) {
  return `${replies} ${replies === 1 ? "reply" : "replies"}`;
}

// "Last reply today at 14:05", "… yesterday at 9:30", "… on 3 Nov": relative to `now`.
export function lastReplyText(time, now, locale = undefined) {
  if (!Number.isFinite(time)) return "";
  const at = shortTime(time, locale);
  if (dayKey(time) === dayKey(now)) return `Last reply today at ${at}`;
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (dayKey(time) === dayKey(yesterday.getTime())) return `Last reply yesterday at ${at}`;
  const options = { day: "numeric", month: "short" };
  if (new Date(time).getFullYear() !== new Date(now).getFullYear()) options.year = "numeric";
  return `Last reply on ${new Date(time).toLocaleDateString(locale, options)}`;
}

// The summary line's accessible name: "3 replies, last reply today at 14:05, from
// alice and bob: open the thread".
export function summaryLabel(summary, now, nameOf = (n) => n) {
  const parts = [repliesText(summary.replies)];
  const last = lastReplyText(summary.lastReplyAt, now);
  if (last) parts.push(last.charAt(0).toLowerCase() + last.slice(1));
  const who = participantsText(summary.participants.map(nameOf));
  if (who) parts.push(who);
  return `${parts.join(", ")}: open the thread`;
}

// "from alice", "from carol, bob and al"; "" for nobody.
export function participantsText(names) {
  if (!names.length) return "";
  return `from ${names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0]}`;
}

// One user's state of each thread, from thread.state frames (and threads.fetch items):
// the frame with the highest last_seq wins, and of equal ones the later; the totals
// (the sidebar's Threads badge) are those of the last frame (or hello) received.
export class ThreadStates {
  constructor() {
    this.byKey = new Map(); // key -> {room, root, following, lastReadSeq, unread, mentions, lastSeq}
    this.totals = { unreadThreads: 0, mentions: 0 };
  }

  get(room, root) {
    return this.byKey.get(threadKey(room, root)) || null;
  }

  // hello.threads or thread.state's threads: true when they changed.
  setTotals(raw) {
    if (!raw || typeof raw !== "object") return false;
    const next = { unreadThreads: count(raw.unread_threads), mentions: count(raw.mentions) };
    const changed = next.unreadThreads !== this.totals.unreadThreads || next.mentions !== this.totals.mentions;
    this.totals = next;
    return changed;
  }

  // A thread.state frame (or a threads item, with the summary's last_seq): true when it
  // was taken (not older than the state held).
  apply(frame, lastSeq = frame.last_seq) {
    if (!frame || typeof frame.room !== "string" || !Number.isInteger(frame.root)) return false;
    const key = threadKey(frame.room, frame.root);
    const held = this.byKey.get(key);
    const seq = count(lastSeq);
    if (held && held.lastSeq > seq) return false;
    this.byKey.set(key, {
      room: frame.room,
      root: frame.root,
      following: frame.following === true,
      // The page's own pointer may be ahead of the server's (a thread.read in flight).
      lastReadSeq: Math.max(count(frame.last_read_seq), held ? Math.min(held.lastReadSeq, seq) : 0),
      unread: count(frame.unread),
      mentions: count(frame.mentions),
      lastSeq: seq,
    });
    return true;
  }

  // The page showed replies up to `seq`: the seq to send in thread.read, or null when
  // the pointer is there already.
  markRead(room, root, seq) {
    if (!Number.isInteger(seq) || seq <= 0) return null;
    const key = threadKey(room, root);
    const held = this.byKey.get(key);
    if (held && held.lastReadSeq >= seq) return null;
    if (held) held.lastReadSeq = seq;
    else this.byKey.set(key, { room, root, following: false, lastReadSeq: seq, unread: 0, mentions: 0, lastSeq: 0, unknown: true });
    return seq;
  }
}
