// The people directory page (/people/): profile cards on every person, and each
// "local time" kept current while the page stays open. The search itself is the
// server's (a plain GET form), so the page works without this module.

import { localTime } from "./peoplesearch.js";
import { ProfileCard, profileCardElements } from "./profilecard.js";

const CLOCK_TICK_MS = 30e3;

const me = JSON.parse(document.getElementById("username").textContent);
new ProfileCard(profileCardElements(), { me: () => me });

function tick() {
  for (const el of document.querySelectorAll(".people-list .local-time[data-timezone]")) {
    const time = localTime(el.dataset.timezone);
    if (time) el.textContent = `${time} local time`;
  }
}
tick();
setInterval(tick, CLOCK_TICK_MS);
