// Reactions under a message: the bar of emoji with their counts (this user's own
// pressed), the picker (the common ones, then every emoji the server takes, both from
// the page's json_script), toggling one, and the live `reaction` frames.
//
// `me` is per reader: reads made for this user (history, a resume) say it, while live
// `message` frames are shared by everyone and say false. So the page keeps what it knows
// of its own reactions here, from those reads and from `reaction` frames carrying its
// username (docs/protocol.md, Reactions).

const mine = new Map(); // message id -> Set of the emoji this user reacted with
let lists = null;

function emojiLists() {
  if (lists === null) {
    const el = document.getElementById("reaction-emoji");
    const parsed = el ? JSON.parse(el.textContent) : null;
    lists = {
      common: Array.isArray(parsed?.common) ? parsed.common : [],
      allowed: Array.isArray(parsed?.allowed) ? parsed.allowed : [],
    };
  }
  return lists;
}

function mineOf(id) {
  let own = mine.get(id);
  if (!own) {
    own = new Set();
    mine.set(id, own);
  }
  return own;
}

// The bar for a saved message (an element even with no reactions: it holds the button).
export function reactionBar(message) {
  const bar = document.createElement("div");
  bar.className = "reactions";
  bar.dataset.messageId = String(message.id);
  const own = mineOf(message.id);
  for (const reaction of Array.isArray(message.reactions) ? message.reactions : []) {
    if (!reaction || typeof reaction.emoji !== "string" || !Number.isInteger(reaction.count)) continue;
    if (reaction.me === true) own.add(reaction.emoji); // false says nothing: maybe a shared frame
    if (reaction.count > 0) bar.append(chip(reaction.emoji, reaction.count, own.has(reaction.emoji)));
  }
  const add = document.createElement("button");
  add.type = "button";
  add.className = "react-add";
  add.dataset.action = "react-open";
  add.textContent = "☺+";
  add.title = "Add a reaction";
  add.setAttribute("aria-label", "Add a reaction");
  add.setAttribute("aria-expanded", "false");
  bar.append(add);
  return bar;
}

function chip(emoji, count, pressed) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "reaction";
  el.dataset.action = "react-toggle";
  el.dataset.emoji = emoji;
  showCount(el, count, pressed);
  return el;
}

function showCount(el, count, pressed) {
  el.dataset.count = String(count);
  el.textContent = `${el.dataset.emoji} ${count}`;
  el.setAttribute("aria-pressed", pressed ? "true" : "false");
  el.title = pressed ? "Remove your reaction" : "Add this reaction";
}

// A `reaction` frame: the count as the server says it, and this user's own state when
// it is theirs. Unknown messages (not on screen) are skipped: a later read carries it.
export function applyReaction(list, frame, username) {
  const id = frame.message_id;
  if (!Number.isInteger(id) || typeof frame.emoji !== "string" || !Number.isInteger(frame.count)) return;
  const own = mineOf(id);
  if (frame.username === username) {
    if (frame.added) own.add(frame.emoji);
    else own.delete(frame.emoji);
  }
  const bar = list.querySelector(`:scope > li.message[data-id="${id}"] > .reactions`);
  if (!bar) return;
  const found = [...bar.querySelectorAll(":scope > button.reaction")].find((b) => b.dataset.emoji === frame.emoji);
  if (frame.count < 1) {
    if (found) found.remove();
  } else if (found) {
    showCount(found, frame.count, own.has(frame.emoji));
  } else {
    bar.querySelector(":scope > button.react-add").before(chip(frame.emoji, frame.count, own.has(frame.emoji)));
  }
}

export class ReactionClicks {
  // requests.change(kind, frame) -> bool (sent), as for edits.
  constructor(list, requests) {
    this.requests = requests;
    list.addEventListener("click", (event) => this.onClick(event, list));
    list.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      const picker = event.target instanceof Element ? event.target.closest(".reaction-picker") : null;
      if (picker) closePicker(picker.parentElement, true);
    });
  }

  onClick(event, list) {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    const bar = target && target.closest(".reactions");
    if (!bar || !list.contains(bar)) return;
    const id = Number(bar.dataset.messageId);
    switch (target.dataset.action) {
      case "react-toggle":
        this.send(id, target.dataset.emoji, target.getAttribute("aria-pressed") !== "true");
        break;
      case "react-open":
        if (bar.querySelector(":scope > .reaction-picker")) closePicker(bar, true);
        else openPicker(bar);
        break;
      case "react-more":
        target.replaceWith(...emojiLists().allowed.map(pickButton));
        break;
      case "react-pick":
        this.send(id, target.dataset.emoji, !mineOf(id).has(target.dataset.emoji));
        closePicker(bar, true);
        break;
    }
  }

  send(id, emoji, add) {
    if (!Number.isInteger(id) || typeof emoji !== "string") return;
    this.requests.change("react", { type: add ? "reaction.add" : "reaction.remove", message_id: id, emoji });
  }
}

// The entry point for picking a reaction for a message (the message list's React
// button). Opens the chooser under the message; `anchorElement` is where the caller
// would like it (the emoji part's picker may anchor there). A stub until that part's
// picker lands: it opens today's chooser (msglist, #23).
export function openReactionPicker(messageId, anchorElement) {
  void anchorElement;
  const bar = document.querySelector(`li.message[data-id="${Number(messageId)}"] > .reactions`);
  if (!bar) return;
  if (bar.querySelector(":scope > .reaction-picker")) closePicker(bar, true);
  else openPicker(bar);
}

function pickButton(emoji) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "react-pick";
  el.dataset.action = "react-pick";
  el.dataset.emoji = emoji;
  el.textContent = emoji;
  el.setAttribute("aria-label", `React with ${emoji}`);
  return el;
}

function openPicker(bar) {
  const picker = document.createElement("div");
  picker.className = "reaction-picker";
  picker.setAttribute("role", "group");
  picker.setAttribute("aria-label", "Pick a reaction");
  const more = document.createElement("button");
  more.type = "button";
  more.className = "link react-more";
  more.dataset.action = "react-more";
  more.textContent = "more…";
  picker.append(...emojiLists().common.map(pickButton), more);
  bar.append(picker);
  bar.querySelector(":scope > .react-add").setAttribute("aria-expanded", "true");
  picker.querySelector("button").focus();
}

function closePicker(bar, refocus) {
  const picker = bar.querySelector(":scope > .reaction-picker");
  if (picker) picker.remove();
  const add = bar.querySelector(":scope > .react-add");
  add.setAttribute("aria-expanded", "false");
  if (refocus) add.focus();
}
