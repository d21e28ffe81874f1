// Reconnect delays of the page's socket (socket.js): exponential backoff with full
// jitter, the slower start after "too many", and the spread after a server restart.
// Pure: the random source is a parameter (Math.random in the page, fixed in tests);
// no timers, no socket, and no close codes (socket.js decides which delay applies).

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30000;
export const TOO_MANY_MIN_MS = 2000; // after "too many": wait at least this long
export const RESTART_MIN_MS = 200;
export const RESTART_SPREAD_MS = 3000; // after a restart: reconnect within this, at random
export const RESTART_SPREAD_MAX_MS = 60000; // the most a server's spread is taken at
export const RESTART_TRIES = 6; // attempts spread this way before the backoff takes over

// Full jitter (anywhere from 0 to the exponential ceiling): pages that lost the server
// together do not come back together. `attempt` counts from 0 since the last hello.
export function fullJitter(attempt, random = Math.random) {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

// Refused for too many connections or attempts: never at once, slower each time.
export function tooManyDelay(attempt, random = Math.random) {
  return TOO_MANY_MIN_MS + fullJitter(attempt, random);
}

// The window a restarting server asks its pages to spread their reconnects over: the
// 1012 close frame's reason may say "spread=<seconds>" (docs/protocol.md), sized by the
// server from how many sockets it closed. At least RESTART_SPREAD_MS, at most
// RESTART_SPREAD_MAX_MS; RESTART_SPREAD_MS without it.
export function restartSpread(reason) {
  const found = /(?:^|[\s;,])spread=(\d+(?:\.\d+)?)(?:$|[\s;,])/.exec(reason || "");
  const asked = found ? Number(found[1]) * 1000 : RESTART_SPREAD_MS;
  return Math.min(RESTART_SPREAD_MAX_MS, Math.max(RESTART_SPREAD_MS, asked));
}

// A restart closes every page of the process at once: each comes back at a random
// moment of the spread rather than all in the first second, and so does each retry
// while the restart lasts (a process still starting, a balancer still choosing).
export function restartDelay(random = Math.random, spread = RESTART_SPREAD_MS) {
  return RESTART_MIN_MS + random() * spread;
}
