// How one message is drawn: a saved message's <li> (author, avatar, time, the quote of
// the message it replies to, body, image, "(edited)", Reply and its own Edit/Delete
// buttons) and the outbox's pending, failed and upload lines. Builds and updates
// elements only; it knows no list order and sends nothing.

import { button, span } from "./dom.js";
import { fileLink } from "./files.js";
import { isMention } from "./mentions.js";
import { avatarImage, nameParts, setAvatar } from "./profiles.js";
import { reactionBar } from "./reactions.js";

// `profile`: the author's cached profile or null; `username`: the page's user.
export function messageItem(message, username, profile) {
  const item = document.createElement("li");
  const system = message.kind === "system";
  const own = !system && message.author === username;
  item.className = system ? "message system" : own ? "message own" : "message";
  item.dataset.seq = String(message.seq);
  if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  const date = new Date(message.created_at);
  time.textContent = date.toLocaleTimeString();
  time.title = date.toLocaleString();
  const quote = replyQuote(message.reply_to);
  if (quote) item.append(quote);
  if (system) {
    item.append(span("author system-label", "announcement"), " ", time, " ", messageBody(message, username));
  } else {
    item.dataset.author = message.author;
    const who = span("author", "");
    nameParts(who, message.author, profile);
    const alt = profile ? profile.displayName : message.author;
    item.append(avatarImage(profile, alt), " ", who, " ", time, " ", messageBody(message, username));
  }
  if (!own && isMention(message, username)) item.classList.add("mentions-me");
  const attached = attachmentLink(message.attachment) || fileLink(message.attachment);
  if (attached) item.append(attached);
  if (message.edited_at) markEdited(item);
  if (Number.isInteger(message.id)) {
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(button("reply", "reply", "Reply to this message"));
    if (own) {
      actions.append(
        " ",
        button("edit", "edit", "Edit this message"),
        button("delete", "delete", "Delete this message")
      );
    }
    item.append(" ", actions);
  }
  if (Number.isInteger(message.id)) item.append(reactionBar(message));
  return item;
}

// The message this one answers: a button that jumps to it (replies.js), or "deleted
// message" once it is gone (never its text).
function replyQuote(reply) {
  if (!reply || !Number.isInteger(reply.id) || !Number.isInteger(reply.seq)) return null;
  const quote = document.createElement("button");
  quote.type = "button";
  quote.className = "reply-quote";
  quote.dataset.action = "jump";
  quote.dataset.replyId = String(reply.id);
  quote.dataset.replySeq = String(reply.seq);
  if (reply.deleted) {
    quoteDeleted(quote);
    return quote;
  }
  const who = typeof reply.author === "string" ? reply.author : "announcement";
  quote.append(span("reply-author", who), " ", span("reply-excerpt", String(reply.excerpt || "")));
  quote.setAttribute("aria-label", `Replying to ${who}: go to that message`);
  return quote;
}

function quoteDeleted(quote) {
  quote.classList.add("deleted");
  quote.disabled = true;
  quote.replaceChildren(span("reply-excerpt", "deleted message"));
  quote.removeAttribute("aria-label");
}

// The message `id` was deleted: quotes of it in `list` say so.
export function markRepliesDeleted(list, id) {
  for (const quote of list.querySelectorAll(`button.reply-quote[data-reply-id="${Number(id)}"]`)) {
    quoteDeleted(quote);
  }
}

// The body as the server rendered it (`html`: a Markdown subset, links, mention chips,
// limited to the elements of docs/protocol.md's allow-list and cleaned on the server);
// the source stays on the element for the editor. Chips naming this user stand out.
export function messageBody(message, username) {
  const body = span("body rich", "");
  fillBody(body, message, username);
  return body;
}

export function fillBody(body, message, username) {
  const source = typeof message.body === "string" ? message.body : "";
  body.dataset.source = source;
  // The server's html is the only HTML the page inserts; without one, the text.
  if (typeof message.html === "string") body.innerHTML = message.html;
  else body.textContent = source;
  const me = (username || "").toLowerCase();
  for (const chip of body.querySelectorAll("span.mention")) {
    const user = (chip.dataset.user || "").toLowerCase();
    if (chip.dataset.group || (user && user === me)) chip.classList.add("me");
  }
}

// These users' profiles changed: their messages in `list` follow.
export function refreshAuthors(list, usernames, profileOf) {
  for (const item of list.querySelectorAll(":scope > li.message[data-author]")) {
    const name = item.dataset.author;
    if (!usernames.has(name)) continue;
    const profile = profileOf(name);
    const avatar = item.querySelector(":scope > img.avatar");
    if (avatar) setAvatar(avatar, profile, profile ? profile.displayName : name);
    const who = item.querySelector(":scope > .author");
    if (who) nameParts(who, name, profile);
  }
}

export function markEdited(item) {
  if (item.querySelector(":scope > .edited")) return;
  item.querySelector(":scope > .body").after(" ", span("edited", "(edited)"));
}

// An outbox entry still on its way.
export function pendingItem(entry, username) {
  const item = document.createElement("li");
  item.className = "message outbox pending";
  item.dataset.clientId = entry.client_id;
  item.append(span("author", username), " ", span("state", "sending…"), " ", span("body", entry.body));
  return item;
}

// Turn a pending line into a failed one with a dismiss button (which calls onDismiss).
export function markItemFailed(item, detail, onDismiss) {
  item.classList.remove("pending");
  item.classList.add("failed");
  item.querySelector(".state").textContent = "not sent";
  item.title = detail;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "dismiss";
  dismiss.textContent = "dismiss";
  dismiss.setAttribute("aria-label", "Dismiss this unsent message");
  dismiss.addEventListener("click", onDismiss);
  item.append(" ", dismiss);
}

export function uploadItem(name, username) {
  const item = document.createElement("li");
  item.className = "message pending upload";
  item.append(span("author", username), " ", span("state", `uploading ${name}…`));
  return item;
}

// A thumbnail that opens the full image. Only the server's own attachment URLs are used
// (same origin, access-checked), whatever else a frame might carry.
function attachmentLink(attachment) {
  if (!attachment || typeof attachment.url !== "string") return null;
  const own = (url) => typeof url === "string" && url.startsWith("/api/attachments/");
  if (!own(attachment.url) || !own(attachment.thumbnail_url)) return null;
  const link = document.createElement("a");
  link.className = "attachment";
  link.href = attachment.url;
  link.target = "_blank";
  link.rel = "noopener";
  const img = document.createElement("img");
  img.className = "thumb";
  img.src = attachment.thumbnail_url;
  img.alt = typeof attachment.name === "string" ? attachment.name : "image";
  if (Number.isInteger(attachment.thumbnail_width)) img.width = attachment.thumbnail_width;
  if (Number.isInteger(attachment.thumbnail_height)) img.height = attachment.thumbnail_height;
  link.append(img);
  return link;
}
