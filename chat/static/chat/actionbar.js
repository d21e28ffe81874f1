// A message's actions: the compact bar (shown on hover, on keyboard focus and, where
// nothing hovers, from the "…" button), React, Copy link and the thread's opening (the
// page's requests.openThread: threadparts.js) (Reply is replies.js's, Edit
// and Delete edits.js's, the same bar's buttons), the keyboard in the list (arrows move
// between messages, Tab enters the focused one's bar, Escape goes back to the list),
// the full time shown while a message has the focus, and thumbnails opening the
// lightbox. Sends nothing.

import { openLightbox } from "./lightbox.js";
import { openReactionPicker } from "./reactions.js";

const COPIED_MS = 1500;

// The link to one message, as notifications and emails write it (main.js opens it); a
// reply in a thread opens in its thread's panel (?thread=<root id>&seq=N).
export function messageLink(slug, seq, thread = null) {
  const where = Number.isInteger(thread) ? `thread=${thread}&seq=${seq}` : `seq=${seq}`;
  return `${location.origin}/chat/${encodeURIComponent(slug)}/?${where}`;
}

export class ActionBar {
  // page: slug, requests (openThread(root, opener) opens the thread panel; the other
  // buttons send through the parts that own them).
  constructor(list, page) {
    this.list = list;
    this.slug = page.slug;
    this.requests = page.requests;
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("keydown", (event) => this.onKeydown(event));
    list.addEventListener("focusin", (event) => this.onFocus(event, true));
    list.addEventListener("focusout", (event) => this.onFocus(event, false));
  }

  onClick(event) {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    const item = target && target.closest("li.message");
    if (!item || !this.list.contains(item)) return;
    switch (target.dataset.action) {
      case "react-message":
        openReactionPicker(Number(item.dataset.id), target);
        break;
      case "copy-link":
        this.copyLink(item, target);
        break;
      case "thread-reply": // a top-level message's "Reply in thread"
      case "thread-open": // a root's summary, or a reply's "replied to a thread"
        if (this.requests.openThread) this.requests.openThread(Number(target.dataset.root || item.dataset.id), target);
        break;
      case "more": {
        const open = !item.classList.contains("actions-open");
        this.list.querySelectorAll(":scope > li.actions-open").forEach((li) => closeBar(li));
        if (open) {
          item.classList.add("actions-open");
          target.setAttribute("aria-expanded", "true");
          item.querySelector(":scope > .actions button")?.focus();
        }
        break;
      }
      case "lightbox":
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault(); // a modifier still opens the image in a tab
        openLightbox(target);
        break;
    }
  }

  async copyLink(item, button) {
    const url = messageLink(this.slug, Number(item.dataset.seq), item.message?.thread ?? null);
    let copied = false;
    try {
      await navigator.clipboard.writeText(url);
      copied = true;
    } catch {
      copied = copyByHand(url);
    }
    const label = copied ? "Link copied" : "Could not copy the link";
    button.setAttribute("aria-label", label);
    button.title = label;
    button.classList.add(copied ? "copied" : "not-copied");
    setTimeout(() => {
      button.setAttribute("aria-label", "Copy link to this message");
      button.title = "Copy link to this message";
      button.classList.remove("copied", "not-copied");
    }, COPIED_MS);
  }

  onKeydown(event) {
    const target = event.target;
    if (!(target instanceof Element) || event.defaultPrevented) return;
    const onList = target === this.list;
    const onItem = target.matches("li.message") && target.parentElement === this.list;
    if (event.key === "Escape" && target.closest("li.message") && !onItem) {
      const item = target.closest("li.message");
      if (item.matches(".editing, .confirming")) return;
      event.preventDefault();
      closeBar(item);
      item.focus();
      return;
    }
    if (!onList && !onItem) return;
    if (event.key === "Escape" && onItem) {
      event.preventDefault();
      this.list.focus();
      return;
    }
    const messages = () => [...this.list.querySelectorAll(":scope > li.message")];
    let next = null;
    if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      const all = messages();
      if (!all.length) return;
      if (onList) {
        const shown = all.filter((li) => inView(li, this.list));
        next = event.key === "ArrowUp" ? (shown.at(-1) ?? all.at(-1)) : (shown[0] ?? all[0]);
      } else {
        const at = all.indexOf(target);
        next = all[event.key === "ArrowUp" ? Math.max(0, at - 1) : Math.min(all.length - 1, at + 1)];
      }
    } else if (onItem && (event.key === "Home" || event.key === "End")) {
      const all = messages();
      next = event.key === "Home" ? all[0] : all.at(-1);
    } else {
      return;
    }
    event.preventDefault();
    if (next) {
      next.focus({ preventScroll: true });
      next.scrollIntoView({ block: "nearest" });
    }
  }

  // A message reached with the keyboard reads its time in full until the focus leaves
  // it (not on a click: the line would move under the pointer); its bar closes then.
  onFocus(event, gained) {
    const item = event.target instanceof Element ? event.target.closest("li.message") : null;
    if (!item) return;
    if (gained) {
      tabbable(item, true);
      if (event.target === item && item.matches(":focus-visible")) showFullTime(item, true);
      return;
    }
    if (event.relatedTarget instanceof Node && item.contains(event.relatedTarget)) return;
    showFullTime(item, false);
    closeBar(item);
    tabbable(item, false);
  }
}

const CONTROLS = ":scope a[href], :scope button:not(.avatar-button)";

// The list is one Tab stop (a roving focus): a message's links and buttons are Tab
// stops only while the message has the focus, so Tab from the list goes on to the
// composer instead of through every name and link of the room. Failed lines keep
// theirs (Retry and Dismiss want attention).
export function tabbable(item, on) {
  if (item.classList.contains("outbox")) return;
  for (const el of item.querySelectorAll(CONTROLS)) {
    if (on) el.removeAttribute("tabindex");
    else el.tabIndex = -1;
  }
}

function showFullTime(item, full) {
  const time = item.querySelector(":scope > .head > time");
  if (!time || !time.dataset.full) return;
  time.textContent = full ? time.dataset.full : time.dataset.short;
  item.classList.toggle("time-full", full);
}

function closeBar(item) {
  item.classList.remove("actions-open");
  item.querySelector(":scope > .more-actions")?.setAttribute("aria-expanded", "false");
}

function inView(item, list) {
  const a = item.getBoundingClientRect();
  const b = list.getBoundingClientRect();
  return a.bottom > b.top && a.top < b.bottom;
}

// Where the Clipboard API is refused (an insecure origin): the old way.
function copyByHand(text) {
  const field = document.createElement("textarea");
  field.value = text;
  field.setAttribute("readonly", "");
  field.className = "visually-hidden";
  document.body.append(field);
  field.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  field.remove();
  return done;
}
