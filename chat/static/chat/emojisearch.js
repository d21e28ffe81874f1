// The emoji picker's and the `:` completion's pure rules: reading the generated table
// (emojidata.js), ranking emoji for what was typed, finding a `:name` being typed before
// the caret, and the recently used list. No DOM, no storage: tests/js/emojisearch.test.mjs.

export const RECENT_MAX = 24; // the "Recently used" row holds at most this many
export const COMPLETE_MIN_CHARS = 2; // ":t" is too little to list anything useful
const COMPLETE_TOKEN = /(?:^|[\s([{"'])(:([\w+-]{2,40}))$/;
const VS16 = /\uFE0F/g;

// The table's rows [char, "name alias …"] as {char, names}.
export function readTable(rows) {
  return rows
    .filter((row) => Array.isArray(row) && typeof row[0] === "string" && typeof row[1] === "string")
    .map(([char, names]) => ({ char, names: names.split(" ").filter(Boolean) }));
}

// One key per emoji whether or not it carries U+FE0F (keyboards differ; so do lists).
export function emojiKey(char) {
  return String(char).replace(VS16, "");
}

// The entries whose names match `query`, best first: a name starting with it, then a
// word of a name starting with it ("face" finds grinning_face), then a name holding it.
// Ties keep the table's order (the common ones lead). An empty query keeps every entry.
export function searchEmoji(entries, query, limit = Infinity) {
  const q = String(query).trim().toLowerCase().replace(/^:|:$/g, "").replace(/\s+/g, "_");
  if (!q) return entries.slice(0, limit);
  const ranked = [];
  entries.forEach((entry, index) => {
    let best = 3;
    for (const name of entry.names) {
      const lower = name.toLowerCase();
      if (lower.startsWith(q)) best = Math.min(best, lower === q ? -1 : 0);
      else if (lower.split(/[_-]/).some((word) => word.startsWith(q))) best = Math.min(best, 1);
      else if (lower.includes(q)) best = Math.min(best, 2);
    }
    if (best < 3) ranked.push({ entry, best, index });
  });
  ranked.sort((a, b) => a.best - b.best || a.index - b.index);
  return ranked.slice(0, limit).map((r) => r.entry);
}

// The name an entry is shown and completed by: the one that matched `query` first, else
// its first (CLDR) name.
export function bestName(entry, query) {
  const q = String(query).toLowerCase();
  return entry.names.find((name) => name.toLowerCase().startsWith(q)) || entry.names[0];
}

// A `:name` being typed just before the caret: {start, prefix} (start: the index of
// ":"), or null. Not after a word character, so "12:30" and "http://x" list nothing.
export function completionAt(textBeforeCaret) {
  const match = COMPLETE_TOKEN.exec(textBeforeCaret);
  if (!match || match[2].length < COMPLETE_MIN_CHARS) return null;
  return { start: textBeforeCaret.length - match[1].length, prefix: match[2] };
}

// The recently used list after using `char`: it moves to the front, at most `max`.
export function recentAfter(recent, char, max = RECENT_MAX) {
  const key = emojiKey(char);
  const rest = (Array.isArray(recent) ? recent : []).filter((c) => typeof c === "string" && emojiKey(c) !== key);
  return [char, ...rest].slice(0, max);
}

// Only the entries a reaction may be (the server's set), spelled as the server spells them.
export function reactionEntries(entries, reactions) {
  const allowed = new Map(reactions.map((char) => [emojiKey(char), char]));
  return entries.filter((e) => allowed.has(emojiKey(e.char))).map((e) => ({ ...e, char: allowed.get(emojiKey(e.char)) }));
}
