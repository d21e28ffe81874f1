// Reactions under a message: the bar of emoji with their counts (this user's own
// pressed), picking one (openReactionPicker: the emoji picker limited to the server's
// set, emojipicker.js), toggling one, and the live `reaction` frames.
//
// `me` is per reader: reads made for this user (history, a resume) say it, while live
// `message` frames are shared by everyone and say false. So the page keeps what it knows
// of its own reactions here, from those reads and from `reaction` frames carrying its
// username (docs/protocol.md, Reactions).

import { emojiPicker } from "./emojipicker.js";

const mine = new Map(); // message id -> Set of the emoji this user reacted with
const clickers = new Set(); // every room list's ReactionClicks (one per Timeline)

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
  add.setAttribute("aria-haspopup", "dialog");
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
    this.list = list;
    this.requests = requests;
    clickers.add(this);
    list.addEventListener("click", (event) => this.onClick(event, list));
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
        openReactionPicker(id, target);
        break;
    }
  }

  send(id, emoji, add) {
    if (!Number.isInteger(id) || typeof emoji !== "string") return;
    this.requests.change("react", { type: add ? "reaction.add" : "reaction.remove", message_id: id, emoji });
  }
}

// Pick a reaction for message `messageId` with the emoji picker (the server's set,
// recently used first), opened at `anchorElement`, which gets the focus back. Picking
// an emoji this user already put there takes it off, as pressing its chip does. The
// frames are reaction.add / reaction.remove (docs/protocol.md, Reactions).
export function openReactionPicker(messageId, anchorElement) {
  const id = Number(messageId);
  const owner =
    [...clickers].find((c) => c.list.contains(anchorElement)) ||
    [...clickers].find((c) => c.list.querySelector(`li.message[data-id="${id}"]`));
  if (!owner || !Number.isInteger(id)) return;
  emojiPicker().open({
    anchor: anchorElement,
    mode: "reactions",
    label: "Pick a reaction",
    onPick: (emoji) => owner.send(id, emoji, !mineOf(id).has(emoji)),
  });
}
