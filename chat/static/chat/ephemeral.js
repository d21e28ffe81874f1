// A slash command's `ephemeral` answer in a room's list: an "Only visible to you" line.
// Never stored: it lives in this page only and is gone on reload; a saved message that
// comes later goes below it, the outbox's pending lines stay last.

export const EPHEMERAL_LABEL = "Only visible to you";

export function ephemeralItem(frame) {
  const item = document.createElement("li");
  item.className = "ephemeral";
  const label = document.createElement("span");
  label.className = "ephemeral-label";
  label.textContent = EPHEMERAL_LABEL;
  const body = document.createElement("div");
  body.className = "body rich";
  // The server's html (the messages' allow-list) is the only HTML the page inserts.
  if (typeof frame.html === "string") body.innerHTML = frame.html;
  else body.textContent = typeof frame.text === "string" ? frame.text : "";
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "link ephemeral-dismiss";
  dismiss.textContent = "Dismiss";
  dismiss.addEventListener("click", () => item.remove());
  item.append(label, body, dismiss);
  return item;
}

// Add the line to a Timeline's list (above its pending lines), keeping the view at the
// bottom when it was there.
export function showEphemeral(timeline, frame) {
  const keep = timeline.nearBottom();
  const next = timeline.list.querySelector(":scope > li.outbox, :scope > li.upload");
  timeline.list.insertBefore(ephemeralItem(frame), next);
  if (keep) timeline.scrollToBottom();
}
