// How one message is drawn: a saved message's <li> (avatar and name as profile buttons,
// the time, the quote of the message it replies to, body, image or file, "(edited)",
// reactions, its action bar and the touch "…" button) and the outbox's pending, failed
// and upload lines. Builds and updates elements only; it knows no list order (grouping
// and day separators are listdecor.js's) and sends nothing.

import { cardColor, messageLook } from "./botlook.js";
import { span } from "./dom.js";
import { fileLink } from "./files.js";
import { fullTime, shortTime } from "./grouping.js";
import { isMention } from "./mentions.js";
import { avatarImage, nameParts, setAvatar } from "./profiles.js";
import { reactionBar } from "./reactions.js";
import { noteSummary, showSummary, threadMark } from "./threadsummary.js";

// `profile`: the author's cached profile or null (a bot's message shows its own look
// instead: botlook.js); `username`: the page's user.
// `inThread`: drawn in the thread panel (no thread summary, mark or "Reply in thread").
export function messageItem(message, username, profile, inThread = false) {
  if (message.deleted === true) return deletedRootItem(message, inThread);
  const item = document.createElement("li");
  const system = message.kind === "system";
  const own = !system && message.author === username;
  item.className = system ? "message system" : own ? "message own" : "message";
  item.tabIndex = -1; // reached with the arrow keys (actionbar.js), never a Tab stop each
  item.dataset.seq = String(message.seq);
  if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
  const created = Date.parse(message.created_at);
  if (Number.isFinite(created)) item.dataset.time = String(created);
  item.message = message; // the thread panel draws a root from it (threadpanel.js)
  const reply = Number.isInteger(message.thread);
  if (reply && !inThread) item.append(threadMark(message.thread));
  const quote = replyQuote(message.reply_to);
  if (quote) item.append(quote);
  // The bar comes first (it is drawn over the top right): Tab from the focused message
  // goes straight into it.
  if (Number.isInteger(message.id)) item.append(actionBar(own, !system && !reply && !inThread, !inThread));
  if (system) {
    item.append(head(span("author system-label", "announcement"), timeEl(message.created_at)));
  } else {
    item.dataset.author = message.author;
    const look = messageLook(message);
    if (look) {
      item.classList.add("bot");
      item.dataset.look = look.key; // grouping (listdecor.js); never redrawn from the profile
    }
    item.append(
      avatarButton(message.author, look || profile),
      head(authorButton(message.author, look || profile), timeEl(message.created_at))
    );
  }
  item.append(messageBody(message, username));
  if (!own && isMention(message, username)) item.classList.add("mentions-me");
  if (message.edited_at) markEdited(item);
  const attached = attachmentLink(message.attachment) || fileLink(message.attachment);
  if (attached) item.append(attached);
  if (Number.isInteger(message.id)) item.append(reactionBar(message), moreButton());
  if (!reply && !inThread && Number.isInteger(message.id) && message.thread_summary) {
    showSummary(item, message.id, noteSummary(message.id, message.thread_summary, false));
  }
  return item;
}

// A thread's root deleted after its replies came: kept in its place, with no content,
// so its thread (the summary under it) can still be opened (docs/protocol.md, Threads).
export function deletedRootItem(message, inThread = false) {
  const item = document.createElement("li");
  item.className = "message deleted-root";
  item.tabIndex = -1;
  item.dataset.seq = String(message.seq);
  if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
  const created = Date.parse(message.created_at);
  if (Number.isFinite(created)) item.dataset.time = String(created);
  item.message = message;
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = "This message was deleted.";
  item.append(head(span("author deleted-label", "deleted message"), timeEl(message.created_at)), body);
  if (!inThread && Number.isInteger(message.id)) {
    showSummary(item, message.id, noteSummary(message.id, message.thread_summary, false));
  }
  return item;
}

function head(who, time) {
  const el = document.createElement("div");
  el.className = "head";
  el.append(who, time);
  return el;
}

// A person's avatar and name are buttons carrying data-profile: the people part opens
// the profile card from them (a delegated click or Enter on [data-profile]).
function avatarButton(username, profile) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "avatar-button";
  el.dataset.profile = username;
  el.tabIndex = -1; // the name button is the Tab stop for the same person
  const name = profile ? profile.displayName : username;
  el.setAttribute("aria-label", name); // named even while no picture is known
  el.append(profile && profile.emoji ? emojiAvatar(profile.emoji) : avatarImage(profile, name));
  return el;
}

// A hook's icon_emoji in the avatar's place (text, the button carries the name).
function emojiAvatar(emoji) {
  const el = span("avatar avatar-emoji", emoji);
  el.setAttribute("aria-hidden", "true");
  return el;
}

function authorButton(username, profile) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "author";
  el.dataset.profile = username;
  nameParts(el, username, profile);
  return el;
}

// The short time in the list; the full date and time in its title (hover) and shown in
// its place while the message has the keyboard focus (actionbar.js swaps the text).
export function timeEl(iso) {
  const time = document.createElement("time");
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return time;
  time.dateTime = iso;
  time.textContent = shortTime(at);
  time.title = fullTime(at);
  time.dataset.short = time.textContent;
  time.dataset.full = time.title;
  return time;
}

// The compact bar shown on hover, keyboard focus or "…": react, reply (a quote: the
// room's list only; a thread is the conversation already), copy link, edit/delete for
// one's own, and reply in a thread (a top-level message of the room's list). Its buttons
// are plain <button>s in the message, in the order Tab reaches them from the focused
// message.
function actionBar(own, threadable, quotable) {
  const bar = document.createElement("div");
  bar.className = "actions";
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "Message actions");
  bar.append(actionButton("react-message", "Add a reaction"));
  if (quotable) bar.append(actionButton("reply", "Reply"));
  if (own) bar.append(actionButton("edit", "Edit"), actionButton("delete", "Delete"));
  bar.append(actionButton("copy-link", "Copy link to this message"));
  // Last, so the bar's other buttons keep their places (and keyboard users their Tabs).
  if (threadable) bar.append(actionButton("thread-reply", "Reply in thread"));
  return bar;
}

// Icons as strokes in a 16×16 box (drawn in the text colour; no icon font to load).
const ICONS = {
  "react-message": "M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM5.2 9.6c.7 1 1.6 1.5 2.8 1.5s2.1-.5 2.8-1.5M5.8 6.2h.01M10.2 6.2h.01",
  reply: "M6.5 3.5 2.5 7.5l4 4M2.5 7.5h6.5c2.5 0 4.5 2 4.5 4.5v.5",
  "thread-reply": "M2.5 2.5h11v7.5h-6l-3 3v-3h-2zM5 5.5h6M5 7.5h3.5",
  edit: "M10.8 2.7l2.5 2.5-7.8 7.8-3.2.7.7-3.2zM9.5 4l2.5 2.5",
  delete: "M2.5 4.5h11M6 4.5V3h4v1.5M4 4.5l.7 9h6.6l.7-9M6.7 7v4.5M9.3 7v4.5",
  "copy-link": "M6.8 9.2a3 3 0 0 0 4.2 0l2-2a3 3 0 0 0-4.2-4.2l-.8.8M9.2 6.8a3 3 0 0 0-4.2 0l-2 2a3 3 0 0 0 4.2 4.2l.8-.8",
};
const SVG = "http://www.w3.org/2000/svg";

function icon(action) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[action]);
  svg.append(path);
  return svg;
}

function actionButton(action, label) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = `act ${action}`;
  el.dataset.action = action;
  el.append(icon(action));
  el.title = label;
  el.setAttribute("aria-label", label);
  return el;
}

// Shown only where nothing hovers (touch screens): opens the action bar.
function moreButton() {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "more-actions";
  el.dataset.action = "more";
  el.textContent = "…";
  el.setAttribute("aria-label", "Message actions");
  el.setAttribute("aria-expanded", "false");
  return el;
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
  const body = document.createElement("div");
  body.className = "body rich";
  fillBody(body, message, username);
  return body;
}

export function fillBody(body, message, username) {
  const source = typeof message.body === "string" ? message.body : "";
  body.dataset.source = source;
  // The server's html is the only HTML the page inserts; without one, the text.
  if (typeof message.html === "string") body.innerHTML = message.html;
  else body.textContent = source;
  // A Slack card's colour bar (data-color, checked again here): through the CSSOM, as
  // the CSP refuses style attributes in HTML.
  for (const card of body.querySelectorAll("div.card[data-color]")) {
    const color = cardColor(card.dataset.color);
    if (color) card.style.setProperty("--card-color", color);
  }
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
    if (!usernames.has(name) || item.dataset.look) continue; // a bot's message keeps its look
    const profile = profileOf(name);
    const shown = profile ? profile.displayName : name;
    const avatar = item.querySelector(":scope > .avatar-button > img.avatar");
    if (avatar) {
      setAvatar(avatar, profile, shown);
      avatar.parentElement.setAttribute("aria-label", shown);
    }
    const who = item.querySelector(":scope > .head > .author");
    if (who && who.dataset.profile) nameParts(who, name, profile);
  }
}

export function markEdited(item) {
  if (item.querySelector(":scope > .edited")) return;
  item.querySelector(":scope > .body").after(span("edited", "(edited)"));
}

// An outbox entry still on its way: drawn as the message will be, muted, "sending…".
export function pendingItem(entry, username, profile) {
  const item = document.createElement("li");
  item.className = "message own outbox pending";
  item.dataset.clientId = entry.client_id;
  item.dataset.author = username;
  item.outboxEntry = entry; // for Retry
  const created = Date.parse(entry.created_at);
  item.dataset.time = String(Number.isFinite(created) ? created : Date.now());
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = entry.body;
  const state = span("state", "sending…");
  state.setAttribute("role", "status");
  item.append(
    avatarButton(username, profile),
    head(authorButton(username, profile), timeEl(entry.created_at)),
    body,
    state
  );
  return item;
}

// Turn a pending line into a failed one: "not sent", why, Retry (onRetry) and Dismiss
// (onDismiss).
export function markItemFailed(item, detail, onDismiss, onRetry) {
  item.classList.remove("pending");
  item.classList.add("failed");
  const state = item.querySelector(":scope > .state");
  state.textContent = "not sent";
  state.setAttribute("role", "alert");
  item.title = detail;
  const why = span("why", detail ? ` — ${detail}` : "");
  const controls = document.createElement("span");
  controls.className = "failed-actions";
  if (onRetry) {
    const retry = failedButton("retry", "Retry", "Send this message again");
    retry.addEventListener("click", onRetry);
    controls.append(retry);
  }
  const dismiss = failedButton("dismiss", "Dismiss", "Dismiss this unsent message");
  dismiss.addEventListener("click", onDismiss);
  controls.append(dismiss);
  state.after(why, controls);
}

function failedButton(className, text, label) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  el.setAttribute("aria-label", label);
  return el;
}

export function uploadItem(name, username, profile) {
  const item = document.createElement("li");
  item.className = "message own pending upload";
  item.dataset.author = username;
  item.dataset.time = String(Date.now());
  item.append(
    avatarButton(username, profile),
    head(authorButton(username, profile), timeEl(new Date().toISOString())),
    span("state", `uploading ${name}…`)
  );
  return item;
}

// A thumbnail that opens the full image in the lightbox (lightbox.js; the link itself
// still opens it in a tab with a modifier key or without script). Only the server's own
// attachment URLs are used (same origin, access-checked), whatever else a frame carries.
function attachmentLink(attachment) {
  if (!attachment || typeof attachment.url !== "string") return null;
  const own = (url) => typeof url === "string" && url.startsWith("/api/attachments/");
  if (!own(attachment.url) || !own(attachment.thumbnail_url)) return null;
  const link = document.createElement("a");
  link.className = "attachment image";
  link.href = attachment.url;
  link.target = "_blank";
  link.rel = "noopener";
  link.dataset.action = "lightbox";
  const img = document.createElement("img");
  img.className = "thumb";
  img.src = attachment.thumbnail_url;
  img.alt = typeof attachment.name === "string" && attachment.name ? attachment.name : "image";
  img.decoding = "async";
  img.loading = "lazy";
  if (Number.isInteger(attachment.thumbnail_width)) img.width = attachment.thumbnail_width;
  if (Number.isInteger(attachment.thumbnail_height)) img.height = attachment.thumbnail_height;
  link.setAttribute("aria-label", `View image ${img.alt}`);
  link.append(img);
  return link;
}
