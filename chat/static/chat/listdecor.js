// What a message shows because of its neighbours: "follow" (no avatar and name: the same
// author as the message above it, within five minutes) and the day separator it opens.
// grouping.js decides; this module reads the <li>s' data-author/data-time and writes
// classes. Called by the timeline at every place the list changes (insert, prepend, gap
// fill, delete, pending confirmed), each time for the changed item and the one below.

import { dayLabel, groupInfo, msToNextMidnight, startsDay, startsGroup } from "./grouping.js";

function infoOf(item) {
  // A bot's message groups by its look (botlook.js): one hook may speak as several names.
  return groupInfo(item.dataset.look || item.dataset.author, item.classList.contains("system"), Number(item.dataset.time));
}

function isMessage(el) {
  return el instanceof Element && el.matches("li.message");
}

// The message above or below `item` (skipping the "New messages" line and the like).
// Nothing is above the first reply of a thread panel: the line under its root starts
// the replies (threadpanel.js), so the first reply always shows its author and day.
export function previousMessage(item) {
  let el = item.previousElementSibling;
  while (el && !isMessage(el)) {
    if (el.classList.contains("thread-divider")) return null;
    el = el.previousElementSibling;
  }
  return el;
}

export function nextMessage(item) {
  let el = item.nextElementSibling;
  while (el && !isMessage(el)) el = el.nextElementSibling;
  return el;
}

// Set `item`'s grouping and day separator from the message above it.
export function decorate(item, now = Date.now()) {
  if (!isMessage(item)) return;
  const current = infoOf(item);
  const above = previousMessage(item);
  const previous = above ? infoOf(above) : null;
  item.classList.toggle("follow", !startsGroup(previous, current));
  const newDay = Number.isFinite(current.time) && startsDay(previous, current);
  let separator = item.querySelector(":scope > .day-separator");
  if (!newDay) {
    if (separator) separator.remove();
    return;
  }
  const label = dayLabel(current.time, now);
  if (!separator) {
    separator = document.createElement("div");
    separator.className = "day-separator";
    const text = document.createElement("span");
    text.className = "day-label";
    separator.append(text);
    item.prepend(separator);
  }
  separator.dataset.time = String(current.time);
  const text = separator.firstElementChild;
  if (text.textContent !== label) text.textContent = label;
}

// `item` was added or changed: it and the message below it follow.
export function decorateAround(item, now = Date.now()) {
  decorate(item, now);
  const below = nextMessage(item);
  if (below) decorate(below, now);
}

// "Today" becomes "Yesterday" at midnight: the labels are written again.
export function relabelDays(list, now = Date.now()) {
  for (const separator of list.querySelectorAll(":scope > li > .day-separator")) {
    const label = dayLabel(Number(separator.dataset.time), now);
    if (separator.firstElementChild.textContent !== label) separator.firstElementChild.textContent = label;
  }
}

// Relabel the lists `lists()` gives at every local midnight, for as long as the page is
// open (a second past it, so that the clock has surely turned).
export function relabelAtMidnight(lists) {
  const tick = () => {
    for (const list of lists()) relabelDays(list);
    setTimeout(tick, msToNextMidnight(Date.now()) + 1000);
  };
  setTimeout(tick, msToNextMidnight(Date.now()) + 1000);
}
