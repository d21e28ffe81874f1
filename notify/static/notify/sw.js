// The site's service worker, served at /sw.js (notify/push_views.py) so its scope is
// the whole site. It shows Web Push notifications and opens the room when one is
// clicked. It caches nothing and handles no fetch: the chat is live or it is not.
//
// Who sees a push: the server pushes to every device of every recipient; the browser
// knows best whether the person is looking at the site. While a window of the site is
// visible, the page shows the message itself, so the worker hands the push to it and
// shows nothing. Otherwise (no tab, or only hidden or minimised ones) it shows the
// notification, tagged per room so one room's notifications replace each other (and
// replace the page's own, which use the same tag: chat-room-<slug>).

"use strict";

const MAX_TITLE_CHARS = 120;
const MAX_ROOT_CHARS = 60; // of a thread's first message, in a reply's notification

self.addEventListener("install", () => {
  // A new worker takes over at once: it holds no state an old page could depend on.
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

function parse(event) {
  if (!event.data) return null;
  try {
    const data = event.data.json();
    return data && typeof data === "object" && data.type === "message" ? data : null;
  } catch {
    return null;
  }
}

function sameOriginPath(url) {
  // Only ever open a page of this site, whatever a payload says.
  try {
    const parsed = new URL(String(url), self.location.origin);
    return parsed.origin === self.location.origin ? parsed.pathname + parsed.search : "/";
  } catch {
    return "/";
  }
}

function titleOf(data) {
  const author = String(data.author || "");
  const room = String(data.room_name || data.room || "");
  let title;
  if (data.is_direct) title = author || room;
  else if (author) title = `${author} in ${room}`;
  else title = room;
  return title.slice(0, MAX_TITLE_CHARS);
}

// A reply in a thread says so, with the start of the message it answers.
function bodyOf(data) {
  const body = String(data.body || "");
  if (data.thread === null || data.thread === undefined) return body;
  const root = String(data.thread_excerpt || "");
  const shown = root.length > MAX_ROOT_CHARS ? `${root.slice(0, MAX_ROOT_CHARS)}…` : root;
  return `${shown ? `in thread: ${shown}` : "in a thread"}\n${body}`;
}

async function onPush(data) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const visible = windows.filter((client) => client.visibilityState === "visible");
  if (visible.length) {
    for (const client of visible) client.postMessage({ type: "push", payload: data });
    return;
  }
  await self.registration.showNotification(titleOf(data), {
    body: bodyOf(data),
    tag: String(data.tag || `chat-room-${data.room || ""}`),
    renotify: true, // a new message in the same room alerts again, not only replaces
    icon: data.icon ? sameOriginPath(data.icon) : undefined,
    badge: data.badge ? sameOriginPath(data.badge) : undefined,
    timestamp: Date.parse(data.created_at) || Date.now(),
    data: { url: sameOriginPath(data.url), room: String(data.room || "") },
  });
}

self.addEventListener("push", (event) => {
  const data = parse(event);
  if (data) event.waitUntil(onPush(data));
});

async function openRoom(url) {
  const target = new URL(url, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  // Prefer a window already showing this room, then any window of the site.
  const exact = windows.find((client) => client.url.split("?")[0] === target.split("?")[0]);
  const client = exact || windows[0];
  if (client) {
    const focused = await client.focus();
    // The room already open, but the push asks for a thread or a message in it (the
    // query): go there; the page keeps drafts and unsent messages across a load.
    if (focused.url !== target && "navigate" in focused) {
      try {
        await focused.navigate(target);
      } catch {
        // An uncontrolled window cannot be navigated by the worker: open a new one.
        await self.clients.openWindow(target);
      }
    }
    return;
  }
  await self.clients.openWindow(target);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameOriginPath(event.notification.data && event.notification.data.url);
  event.waitUntil(openRoom(url));
});

self.addEventListener("pushsubscriptionchange", (event) => {
  // The browser replaced the subscription (expiry, key rotation by the push service).
  // The worker cannot read the CSRF token to tell the server; the next page load does
  // (chat/push.js re-registers a live subscription), and pushes to the old endpoint
  // end in a 404/410 that deletes it.
  const old = event.oldSubscription;
  if (!old || !old.options || !old.options.applicationServerKey) return;
  event.waitUntil(
    self.registration.pushManager
      .subscribe({ userVisibleOnly: true, applicationServerKey: old.options.applicationServerKey })
      .catch(() => undefined),
  );
});
