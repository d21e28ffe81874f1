// What a thread shows in the room's list: under a root, its summary (reply count, last
// reply time, participants' avatars) as one button that opens the thread panel; above a
// reply sent "also to the room", a line saying it answers a thread. The newest summary
// of each root is kept here (threadstate.js's pickSummary), so a root drawn again (a
// page read back, a room switched to) shows the latest one. Builds elements only; the
// action bar (actionbar.js) turns a click into opening the panel.

import { span } from "./dom.js";
import { avatarImage } from "./profiles.js";
import { cleanSummary, lastReplyText, participantsText, pickSummary, repliesText, summaryLabel } from "./threadstate.js";

const summaries = new Map(); // root id -> the newest cleaned summary
let profileOf = () => null;
let nameOf = (username) => username;
let want = () => {};

// The page's profile cache, for participants' avatars and names.
export function setSummaryProfiles(profiles) {
  profileOf = (username) => profiles.get(username);
  nameOf = (username) => profiles.name(username);
  want = (usernames) => profiles.want(usernames); // refreshSummaries redraws once they come
}

// Note a summary of `root` (from a message, or a live thread.updated) and return the
// one to show.
export function noteSummary(root, raw, live) {
  const kept = pickSummary(summaries.get(root), cleanSummary(raw), live);
  if (kept) summaries.set(root, kept);
  return kept;
}

export function summaryOf(root) {
  return summaries.get(root) || null;
}

// The summary line for a root, or null while it has no reply.
export function summaryButton(root, summary, now = Date.now()) {
  if (!summary || summary.replies < 1) return null;
  const el = document.createElement("button");
  el.type = "button";
  el.className = "thread-summary";
  el.dataset.action = "thread-open";
  el.dataset.root = String(root);
  want(summary.participants);
  const faces = document.createElement("span");
  faces.className = "thread-faces";
  faces.setAttribute("aria-hidden", "true");
  for (const name of summary.participants) {
    const img = avatarImage(profileOf(name), "");
    img.title = nameOf(name);
    faces.append(img);
  }
  // Named by its text (what is seen is what is heard), the participants in words after it.
  el.append(faces, span("thread-count", repliesText(summary.replies)));
  const last = lastReplyText(summary.lastReplyAt, now);
  if (last) el.append(" ", span("thread-last", last));
  const who = participantsText(summary.participants.map(nameOf));
  if (who) el.append(span("visually-hidden", `, ${who}`));
  el.title = summaryLabel(summary, now, nameOf);
  return el;
}

// Draw (or redraw, or take away) the summary under a root's <li>.
export function showSummary(item, root, summary) {
  const held = item.querySelector(":scope > .thread-summary");
  const next = summaryButton(root, summary);
  const focused = held && held.contains(document.activeElement);
  if (held && next) held.replaceWith(next);
  else if (held) held.remove();
  else if (next) {
    const before = item.querySelector(":scope > .more-actions");
    if (before) before.before(next);
    else item.append(next);
  }
  if (next) {
    // A tab stop only while the message has the focus (actionbar.js's roving focus).
    if (!item.contains(document.activeElement)) next.tabIndex = -1;
    if (focused) next.focus();
  }
}

// Above a reply that was also sent to the room: "replied to a thread", opening it.
export function threadMark(root) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "thread-mark";
  el.dataset.action = "thread-open";
  el.dataset.root = String(root);
  el.textContent = "replied to a thread";
  el.setAttribute("aria-label", "Replied to a thread: open the thread");
  return el;
}

// Redraw the participants' avatars of every summary in `list` naming these users.
export function refreshSummaries(list, usernames) {
  for (const button of list.querySelectorAll(".thread-summary")) {
    const root = Number(button.dataset.root);
    const summary = summaries.get(root);
    if (summary && summary.participants.some((name) => usernames.has(name))) {
      showSummary(button.parentElement, root, summary);
    }
  }
}
