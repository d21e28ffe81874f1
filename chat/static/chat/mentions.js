// Whether a message mentions the page's user: the one rule behind the sidebar's mention
// badge (store.js), the message highlight (message.js, timeline.js) and notifications
// (notifications.js), so they cannot disagree. Pure: no DOM, no state.

// By name, @room or @here, whoever wrote the message. System messages included: the
// server finds their mentions like anyone's (services/messages.py _message_insert calls
// mentions_find with author None, so a named user or @here gets Mention rows) and its
// counts take @room messages with no author too (selectors/reading.py: "m.author_id IS
// NULL OR ..."), so a badge that skipped them would disagree with the next room.read.
// A live @here counts: it reached whoever was online, which a page receiving it is.
// The caller leaves out the user's own messages (the server never counts them).
export function isMention(message, username) {
  if (!message || !username) return false;
  if (message.group_mention === "room" || message.group_mention === "here") return true;
  if (!Array.isArray(message.mentions)) return false;
  const me = username.toLowerCase();
  return message.mentions.some((name) => typeof name === "string" && name.toLowerCase() === me);
}
