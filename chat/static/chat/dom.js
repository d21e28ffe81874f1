// Small DOM helpers shared by the page's modules. User content only ever goes in
// through textContent (or an attribute), never parsed as HTML.

export function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

export function button(action, text, label) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = `link ${action}`;
  el.dataset.action = action;
  el.textContent = text;
  if (label) el.setAttribute("aria-label", label);
  return el;
}

export function names(value) {
  return Array.isArray(value) ? value.filter((name) => typeof name === "string" && name) : [];
}

export function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The option an Up or Down arrow moves to in a list of `count` (wrapping around), or
// null for any other key: the completion lists, the switcher and the people picker.
export function arrowStep(key, active, count) {
  const step = { ArrowDown: 1, ArrowUp: -1 }[key];
  if (!step || !count) return null;
  return (active + step + count) % count;
}

// The keys of a list in a dialog with a search box (the room switcher, the people
// picker): arrows move `list.active` and render again, Enter picks the active one with
// `pick(entry)`. Escape is the dialog's own (its cancel event).
export function dialogListKeydown(event, list, pick) {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const next = arrowStep(event.key, list.active, list.matches.length);
    if (next === null) return;
    list.active = next;
    list.render();
  } else if (event.key === "Enter") {
    event.preventDefault();
    const entry = list.matches[list.active];
    if (entry) pick(entry);
  }
}
