// A bot's message as it shows: the name, avatar and emoji a hook posted it with
// (`author_display_name`, `author_avatar`, `author_icon_emoji`; docs/protocol.md), always
// with the BOT badge, and a Slack card's colour bar. Pure: no DOM, no socket; message.js
// draws what these decide.

const OWN_AVATAR = "/api/users/"; // the server's own avatar URLs
const MAX_EMOJI_CHARS = 16; // Message.as_emoji's length: one emoji, perhaps with modifiers
const CARD_COLOR = /^#[0-9a-f]{3}(?:[0-9a-f]{3})?$/i; // what the server's card allow-list keeps

export function isBotMessage(message) {
  return Boolean(message) && message.kind !== "system" && message.author_bot === true && typeof message.author === "string";
}

// An avatar URL a message may show: the server's own, or an http(s) icon_url the server
// kept (it keeps only hosts the page's CSP allows: CHAT_AVATAR_HOSTS). Else "".
export function avatarUrl(value) {
  if (typeof value !== "string" || !value) return "";
  if (value.startsWith(OWN_AVATAR)) return value;
  let url;
  try {
    url = new URL(value);
  } catch {
    return "";
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
}

// The emoji shown in place of the avatar ("" for none). Drawn as text, never as HTML.
export function iconEmoji(value) {
  if (typeof value !== "string") return "";
  const emoji = value.trim();
  return emoji && emoji.length <= MAX_EMOJI_CHARS && !/[\s<>]/.test(emoji) ? emoji : "";
}

// The look of a bot's message, in the shape of a cached profile (profiles.js) plus its
// emoji and a key that tells two looks apart (a hook posting as "Grafana" then as
// "Prometheus" starts a new group: the reader must see who speaks). Null for anyone
// else's message: a person always shows as their profile.
export function messageLook(message) {
  if (!isBotMessage(message)) return null;
  const name = typeof message.author_display_name === "string" ? message.author_display_name.trim() : "";
  const displayName = name || message.author;
  const avatar = avatarUrl(message.author_avatar);
  const emoji = iconEmoji(message.author_icon_emoji);
  return {
    username: message.author,
    displayName,
    avatar,
    emoji,
    bot: true,
    key: [message.author, displayName, avatar, emoji].join("\u0000"),
  };
}

// A card's colour bar from its data-color ("" when absent or not a colour): the CSP
// forbids style attributes in HTML, so the page sets it through the CSSOM.
export function cardColor(value) {
  return typeof value === "string" && CARD_COLOR.test(value) ? value.toLowerCase() : "";
}
