// Reconnect delays of the page's socket (socket.js): exponential backoff with full
// jitter, the slower start after "too many", and the spread after a server restart.
// Pure: the random source is a parameter (Math.random in the page, fixed in tests);
// no timers, no socket, and no close codes (socket.js decides which delay applies).

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30000;
export const TOO_MANY_MIN_MS = 2000; // after "too many": wait at least this long
export const RESTART_MIN_MS = 200;
export const RESTART_SPREAD_MS = 3000; // after a restart: reconnect within this, at random

// Full jitter (anywhere from 0 to the exponential ceiling): pages that lost the server
// together do not come back together. `attempt` counts from 0 since the last hello.
export function fullJitter(attempt, random = Math.random) {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

// Refused for too many connections or attempts: never at once, slower each time.
export function tooManyDelay(attempt, random = Math.random) {
  return TOO_MANY_MIN_MS + fullJitter(attempt, random);
}

// A restart closes every page of the site at once: each comes back at a random moment
// of the spread rather than all in the first second.
export function restartDelay(random = Math.random) {
  return RESTART_MIN_MS + random() * RESTART_SPREAD_MS;
}
