// The room page's narrow-screen layout (chat.css, docs/page.md "Design"): the room bar's
// actions menu, the online list as a panel with a back button, and the page's height
// following the visible viewport so the composer stays above an on-screen keyboard. Only
// layout: it never talks to the server nor changes what a room shows.

const $ = (id) => document.getElementById(id);

const bar = $("room-bar");
const menuToggle = $("room-menu-toggle");
const actions = $("room-actions");

function menuOpen() {
  return menuToggle.getAttribute("aria-expanded") === "true";
}

function setMenu(open) {
  menuToggle.setAttribute("aria-expanded", String(open));
  bar.classList.toggle("menu-open", open);
}

menuToggle.addEventListener("click", () => {
  setMenu(!menuOpen());
  if (menuOpen()) {
    const first = actions.querySelector("input, button:not([hidden]), a:not([hidden]), summary");
    if (first) first.focus();
  }
});

// Anything done from the menu closes it: a search sent, Join, Leave, a panel opened, a link.
actions.addEventListener("submit", () => setMenu(false));
actions.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("button, a") : null;
  if (target && !target.closest(".notify-panel")) setMenu(false);
});
document.addEventListener("click", (event) => {
  if (menuOpen() && event.target instanceof Node && !bar.contains(event.target)) setMenu(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (menuOpen()) {
    setMenu(false);
    menuToggle.focus();
  } else if (document.body.classList.contains("presence-open")) {
    setPresence(false);
  }
});

// The online list: beside the messages on wide screens; a panel opened from the menu
// (full-screen on phones) below 1024px.
function setPresence(open) {
  document.body.classList.toggle("presence-open", open);
  $("presence-open").setAttribute("aria-expanded", String(open));
  if (open) $("presence-close").focus();
  else if (getComputedStyle(menuToggle).display !== "none") menuToggle.focus();
}
$("presence-open").setAttribute("aria-expanded", "false");
$("presence-open").addEventListener("click", () => setPresence(true));
$("presence-close").addEventListener("click", () => setPresence(false));

// "Manage members" in the menu mirrors the header's Members link, which roomview.js
// renders for the room shown (rooms switch in place).
const head = bar.querySelector(".room-head");
const membersLink = $("room-members-link");
function mirrorMembers() {
  const manage = head.querySelector(":scope > .manage");
  membersLink.hidden = !manage;
  if (manage) membersLink.href = manage.getAttribute("href");
}
new MutationObserver(mirrorMembers).observe(head, { childList: true });
mirrorMembers();

// The visible height, for browsers that do not resize the page for the keyboard
// (interactive-widget=resizes-content in base.html does it where supported).
const viewport = window.visualViewport;
if (viewport) {
  const follow = () => {
    if (viewport.scale > 1.01) return; // pinch-zoomed: the page keeps its size
    document.body.style.setProperty("--app-height", `${Math.round(viewport.height)}px`);
  };
  viewport.addEventListener("resize", follow);
  follow();
}
