// Matching people by username and display name, and the local time of a time zone: the
// pure parts of the people picker, the directory and profile cards (tests/js). No DOM,
// no fetch. The server ranks its answer the same way (accounts/selectors.py).

// Case- and accent-insensitive form of a name ("Zoë" matches "zoe").
export function fold(text) {
  return String(text || "")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase();
}

// How well a person matches a query: 0 the exact username, 1 a username or a word of
// the display name starting with it, 2 containing it anywhere, -1 no match. An empty
// query matches everyone (2).
export function matchRank(person, query) {
  const q = fold(query).trim();
  if (!q) return 2;
  const username = fold(person.username);
  const display = fold(person.displayName ?? person.display_name ?? "");
  if (username === q) return 0;
  if (username.startsWith(q) || display.startsWith(q) || display.split(/\s+/).some((w) => w.startsWith(q))) {
    return 1;
  }
  if (username.includes(q) || display.includes(q)) return 2;
  return -1;
}

// The people matching a query, best first, then by the name shown, at most `limit`.
// `people`: [{username, displayName | display_name}]; duplicates (by username) dropped.
export function matchPeople(people, query, limit = 20) {
  const seen = new Set();
  const ranked = [];
  for (const person of people) {
    if (!person || typeof person.username !== "string" || seen.has(person.username)) continue;
    seen.add(person.username);
    const rank = matchRank(person, query);
    if (rank >= 0) ranked.push({ person, rank });
  }
  const shown = (p) => fold(p.displayName ?? p.display_name ?? p.username);
  ranked.sort(
    (a, b) =>
      a.rank - b.rank ||
      shown(a.person).localeCompare(shown(b.person)) ||
      (a.person.username < b.person.username ? -1 : 1)
  );
  return ranked.slice(0, limit).map((entry) => entry.person);
}

// "14:05": the time now in an IANA zone, 24-hour; "" for none or an unknown zone.
export function localTime(zone, now = new Date()) {
  if (!zone) return "";
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
      now
    );
  } catch {
    return ""; // RangeError: a zone this browser does not know
  }
}
