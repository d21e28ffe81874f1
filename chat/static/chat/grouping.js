// The message list's pure rules: which message starts a group (a new author, a system
// message, a new day or a pause of more than GROUP_GAP_MS), which starts a day, the day
// separator's words ("Today", "Yesterday", "Monday, 30 November", with the year when it
// is not this year) and the short and full timestamps. Local time throughout. No DOM:
// tests/js/grouping.test.mjs runs it in node.

export const GROUP_GAP_MS = 5 * 60 * 1000;

// A message as the rules see it: {author, system, time (ms since the epoch)}.
export function groupInfo(author, system, time) {
  return { author: typeof author === "string" ? author : "", system: Boolean(system), time: Number(time) };
}

// The local day of a time, as a number that orders days ("20261130").
export function dayKey(time) {
  const d = new Date(time);
  return d.getFullYear() * 10000 + (d.getMonth() + 1) * 100 + d.getDate();
}

// True when `current` begins a new day after `previous` (or has none before it).
export function startsDay(previous, current) {
  if (!previous || !Number.isFinite(previous.time) || !Number.isFinite(current.time)) return true;
  return dayKey(previous.time) !== dayKey(current.time);
}

// True when `current` shows its avatar and name: anything but a follow-up by the same
// person on the same day within GROUP_GAP_MS of the message above it. A message dated
// before the one above it (a clock skew) starts a group rather than hide its author.
export function startsGroup(previous, current) {
  if (!previous || previous.system || current.system) return true;
  if (!current.author || previous.author !== current.author) return true;
  if (startsDay(previous, current)) return true;
  const gap = current.time - previous.time;
  return !(gap >= 0 && gap <= GROUP_GAP_MS);
}

// The words of a day separator, relative to `now` (both ms).
export function dayLabel(time, now, locale = undefined) {
  const day = dayKey(time);
  if (day === dayKey(now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === dayKey(yesterday.getTime())) return "Yesterday";
  const date = new Date(time);
  const options = { day: "numeric", month: "long" };
  if (date.getFullYear() !== new Date(now).getFullYear()) options.year = "numeric";
  // Weekday, comma, date: "Monday, 30 November" (some locales drop the comma otherwise).
  const weekday = date.toLocaleDateString(locale, { weekday: "long" });
  return `${weekday}, ${date.toLocaleDateString(locale, options)}`;
}

// "14:05" (or "2:05 PM", as the locale writes it): what the list shows.
export function shortTime(time, locale = undefined) {
  return new Date(time).toLocaleTimeString(locale, { hour: "numeric", minute: "2-digit" });
}

// The full date and time: the title and the focused/hovered timestamp.
export function fullTime(time, locale = undefined) {
  return new Date(time).toLocaleString(locale, { dateStyle: "full", timeStyle: "short" });
}

// How long from `now` until the next local midnight (ms, at least 1): when "Today" must
// become "Yesterday" on a page left open overnight.
export function msToNextMidnight(now) {
  const next = new Date(now);
  next.setHours(24, 0, 0, 0); // the next day's 00:00, across month ends and DST changes
  return Math.max(1, next.getTime() - now);
}
