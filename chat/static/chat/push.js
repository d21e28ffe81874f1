// Web Push from the page: registers the site's service worker (/sw.js) on every page,
// so the site is installable, and turns push on or off for this browser. The page's
// notification menu imports pushEnable/pushDisable/pushState; pushEnable must run from
// a user action (browsers ask for permission only then). The server's VAPID key comes
// from <meta name="vapid-key"> (only for a logged-in user when push is configured).

const WORKER_URL = "/sw.js";
const API_URL = "/api/push/subscriptions/";
const LOGOUT_WAIT_MS = 2000;
// Set by pushEnable, cleared by pushDisable and log-out: a subscription the browser or
// the push service ended is made again at the next page load only if push was wanted.
const WANTED_KEY = "chat-push-wanted";

// Same tag as the service worker's, so a page notification and a push of one room
// replace each other instead of stacking.
export function notificationTag(roomSlug) {
  return `chat-room-${roomSlug}`;
}

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function vapidKey() {
  const meta = document.querySelector('meta[name="vapid-key"]');
  return meta ? meta.content : "";
}

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return true; // the browser does not say: assume it is
  const a = new Uint8Array(current);
  const b = keyBytes(key);
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function send(method, body, options = {}) {
  const response = await fetch(API_URL, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
    ...options,
  });
  if (!response.ok && !(method === "DELETE" && response.status === 404)) {
    throw new Error(`push subscription ${method} failed: ${response.status}`);
  }
}

let registering = null;

function registration() {
  if (!registering) {
    registering = navigator.serviceWorker
      .register(WORKER_URL, { scope: "/" })
      .then(() => navigator.serviceWorker.ready);
  }
  return registering;
}

// "unsupported" (this browser has no Web Push), "unavailable" (not logged in, or the
// server has no VAPID keys), "denied" (notifications blocked for the site), "enabled"
// or "disabled".
export async function pushState() {
  if (!supported()) return "unsupported";
  if (!vapidKey()) return "unavailable";
  if (Notification.permission === "denied") return "denied";
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  return subscription && Notification.permission === "granted" ? "enabled" : "disabled";
}

// Ask for permission (from a click), subscribe with the server's key and register the
// subscription. Returns the new state; throws only if the server refused it.
export async function pushEnable() {
  if (!supported()) return "unsupported";
  const key = vapidKey();
  if (!key) return "unavailable";
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return permission === "denied" ? "denied" : "disabled";
  const reg = await registration();
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe(); // the server's key changed: the old one is useless
    subscription = null;
  }
  if (!subscription) {
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  await send("POST", subscription.toJSON());
  localStorage.setItem(WANTED_KEY, "1");
  return "enabled";
}

// Stop push to this browser: the server forgets it first, so nothing more is sent.
export async function pushDisable() {
  if (!supported()) return "unsupported";
  localStorage.removeItem(WANTED_KEY);
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  if (subscription) {
    if (vapidKey()) await send("DELETE", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  return vapidKey() ? "disabled" : "unavailable";
}

// On every page of a logged-in user with push on: register the live subscription again.
// It makes the subscription this user's (another may have used the browser before),
// tells the server of one the browser replaced while no page was open, and subscribes
// again if the push service ended it (a 410) while push is still wanted here.
async function resync() {
  const key = vapidKey();
  if (!key || Notification.permission !== "granted") return;
  const reg = await registration();
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe(); // the server's VAPID key changed
    subscription = null;
  }
  if (!subscription) {
    if (!localStorage.getItem(WANTED_KEY)) return;
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  await send("POST", subscription.toJSON());
}

// Logging out: this device stops notifying the user before the session ends (the
// DELETE needs it) and the browser drops the subscription. The log-out goes ahead whatever the answer, after at most a moment.
function onLogout(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-push-logout")) return;
  if (form.dataset.pushDone || !vapidKey() || Notification.permission !== "granted") return;
  event.preventDefault();
  form.dataset.pushDone = "1";
  localStorage.removeItem(WANTED_KEY);
  const forget = registration()
    .then((reg) => reg.pushManager.getSubscription())
    .then(async (subscription) => {
      if (!subscription) return;
      // Unsubscribed too: whoever logs in next turns push on for themselves.
      await send("DELETE", { endpoint: subscription.endpoint }, { keepalive: true });
      await subscription.unsubscribe();
    });
  const timeout = new Promise((resolve) => setTimeout(resolve, LOGOUT_WAIT_MS));
  Promise.race([forget, timeout])
    .catch(() => undefined)
    .finally(() => form.submit());
}

if (supported()) {
  registration()
    .then(resync)
    .catch((error) => console.warn("service worker / push:", error));
  document.addEventListener("submit", onLogout);
}
