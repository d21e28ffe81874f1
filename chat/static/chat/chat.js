// Room page client (docs/protocol.md). One WebSocket per tab that reconnects by itself
// and resumes where it left off (?after=<seq>); an outbox in localStorage keeps every
// typed message until the server acknowledges it, across reconnects and page reloads.
// A sidebar lists who is online (hello.online, then presence frames) and a line under
// the list shows who else is typing (typing frames; this page sends its own while the
// user types). The user's own saved messages can be edited (inline, Enter saves, Escape
// cancels) and deleted (an inline "Delete? yes/no"); message.updated / message.deleted
// frames replace or remove a message, whoever changed it (its author, a moderator).
// A connection closed for idleness (4408) waits for the user instead of reconnecting.
// Images are posted over HTTP (POST /api/rooms/<slug>/images/: paste, drag-and-drop or
// the Image button) and arrive like any message; a thumbnail opens the full image.
// System messages (kind "system", no author) are shown apart from people's.
// User content is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const slug = JSON.parse(document.getElementById("room-slug").textContent);
  const roomEl = document.getElementById("room");
  const list = document.getElementById("messages");
  const statusEl = document.getElementById("status");
  const errorEl = document.getElementById("error");
  const form = document.getElementById("composer");
  const input = document.getElementById("body");
  const presenceEl = document.getElementById("presence");
  const onlineEl = document.getElementById("online");
  const onlineCountEl = document.getElementById("online-count");
  const typingEl = document.getElementById("typing");
  const attachButton = document.getElementById("attach");
  const fileInput = document.getElementById("image-input");

  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 30000;
  const TOO_MANY_MIN_MS = 2000; // after a 4429, wait at least this long
  const SEND_GAP_MIN_MS = 100; // sends spaced after a rate_limited reply: at first this
  const SEND_GAP_MAX_MS = 5000; // ... doubling on each refusal up to this
  const HELLO_TIMEOUT_MS = 15000; // a connection with no hello by then is dropped
  const OLDER_PAGE = 50; // scrollback page size
  const GAP_PAGE = 100; // the protocol's largest history.fetch
  const NEAR_EDGE_PX = 40;
  // Send errors worth retrying on the same connection; any other error means the
  // message will never be accepted as it is, so it leaves the outbox as failed.
  const RETRYABLE_ERRORS = new Set(["internal_error"]);
  // Errors only message.edit / message.delete produce (their replies carry no id).
  const EDIT_ERRORS = new Set(["not_found", "empty_body", "body_too_long", "muted", "room_locked"]);
  const CHANGE_PENDING_MS = 10000; // an edit/delete with no broadcast by then is given up
  const IDLE_TEXT = "paused — type or click to reconnect";
  const NO_ACCESS_TEXT = "You no longer have access to this room.";
  const TYPING_SHOWN_MS = 5000; // a typing indicator lasts this long after its last frame
  const TYPING_SEND_EVERY_MS = 2000; // this page sends a typing frame at most this often

  let username = roomEl.dataset.username || "";
  let socket = null;
  let ready = false; // the current socket has had its hello
  let everConnected = false;
  let stoppedText = ""; // set on 4403/4404: never reconnect
  let idle = false; // closed with 4408: reconnect on the user's next interaction
  let attempt = 0; // reconnect attempts since the last hello
  let reconnectTimer = null;
  let helloTimer = null;
  // Highest seq of the live stream (hello history + message frames): on one connection
  // they join with no gap, so everything up to it is held. Acks and history pages do
  // not move it: they can run ahead of the stream. null until the first hello.
  let cursor = null;
  let resumable = true; // false after a 4400: reconnect without ?after once
  // Frames sent on this socket that may still be answered, in the order sent. The server
  // answers in that order: message.send -> ack | error (with its client_id), history.fetch
  // -> history | error, message.edit / message.delete -> error on failure only (success
  // is the broadcast, outside this order).
  let inflight = [];
  // client_ids of outbox entries waiting to go on this socket, in order. Not simply the
  // outbox: the user's other tabs share it and send their own entries.
  let sendQueue = [];
  let sendHeldUntil = 0; // after rate_limited or internal_error: no send before this time
  let sendGapMs = 0; // after rate_limited: the space between sends until the queue is empty
  let sendTimer = null;

  const seqs = []; // seqs of the saved messages shown, ascending
  const bySeq = new Map(); // seq -> <li>
  const byId = new Map(); // message id -> <li>
  const deletedIds = new Set(); // never shown again, even if a late frame still carries it
  const outboxEls = new Map(); // client_id -> <li> (pending or failed)
  const retries = new Map(); // client_id -> internal_error retries so far
  let olderLoading = false;
  let olderExhausted = false;
  const gaps = []; // {low, high}: saved messages with low < seq < high still to fetch
  let gapLoading = false;

  let online = new Set(); // usernames online in the room: hello.online, then presence
  // How many are online: hello.online_count, then presence. In a room bigger than the
  // server's hello limit `online` holds only some of them.
  let onlineTotal = 0;
  const typists = new Map(); // username -> timer that clears their typing indicator
  let typingSentAt = -Infinity; // performance.now() of the last typing frame sent

  // --- outbox ------------------------------------------------------------------------
  // Read and written through on every change, so tabs of one user share it safely.

  let storageOk = (function () {
    try {
      const probe = "chat:probe";
      localStorage.setItem(probe, "1");
      localStorage.removeItem(probe);
      return true;
    } catch (e) {
      return false;
    }
  })();
  let memoryOutbox = [];

  function outboxKey() {
    return `chat:outbox:v1:${slug}:${username}`;
  }

  function outboxLoad() {
    if (!storageOk) return memoryOutbox.slice();
    try {
      const parsed = JSON.parse(localStorage.getItem(outboxKey()) || "[]");
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (e) => e && typeof e.client_id === "string" && typeof e.body === "string"
      );
    } catch (e) {
      return memoryOutbox.slice();
    }
  }

  function outboxSave(entries) {
    memoryOutbox = entries.slice();
    if (!storageOk) return;
    try {
      if (entries.length) localStorage.setItem(outboxKey(), JSON.stringify(entries));
      else localStorage.removeItem(outboxKey());
    } catch (e) {
      storageOk = false; // full or blocked: this tab keeps its outbox in memory
    }
  }

  function outboxAdd(entry) {
    const entries = outboxLoad();
    entries.push(entry);
    outboxSave(entries);
  }

  function outboxRemove(clientId) {
    const entries = outboxLoad();
    const kept = entries.filter((e) => e.client_id !== clientId);
    if (kept.length !== entries.length) outboxSave(kept);
    retries.delete(clientId);
  }

  function newClientId() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- status and errors -------------------------------------------------------------

  function updateStatus() {
    let state, text;
    if (stoppedText) [state, text] = ["closed", stoppedText];
    else if (ready) [state, text] = ["connected", "connected"];
    else if (idle) [state, text] = ["idle", IDLE_TEXT];
    else if (!navigator.onLine) [state, text] = ["offline", "offline"];
    else if (everConnected) [state, text] = ["reconnecting", "reconnecting…"];
    else [state, text] = ["connecting", "connecting…"];
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    presenceEl.classList.toggle("stale", !ready);
  }

  function showError(text) {
    if (errorEl.textContent === text && errorEl.hidden === !text) return;
    const atBottom = nearBottom(); // the error line takes room from the list
    errorEl.textContent = text;
    errorEl.hidden = !text;
    if (atBottom) scrollToBottom();
  }

  // --- rendering ---------------------------------------------------------------------

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  function button(action, text, label) {
    const el = document.createElement("button");
    el.type = "button";
    el.className = `link ${action}`;
    el.dataset.action = action;
    el.textContent = text;
    if (label) el.setAttribute("aria-label", label);
    return el;
  }

  function messageItem(message) {
    const item = document.createElement("li");
    const system = message.kind === "system";
    const own = !system && message.author === username;
    item.className = system ? "message system" : own ? "message own" : "message";
    item.dataset.seq = String(message.seq);
    if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
    const time = document.createElement("time");
    time.dateTime = message.created_at;
    const date = new Date(message.created_at);
    time.textContent = date.toLocaleTimeString();
    time.title = date.toLocaleString();
    // textContent: a payload is shown, never parsed
    const who = system ? span("author system-label", "announcement") : span("author", message.author);
    item.append(who, " ", time, " ", span("body", message.body));
    const image = attachmentLink(message.attachment);
    if (image) item.append(image);
    if (message.edited_at) markEdited(item);
    if (own && Number.isInteger(message.id)) {
      const actions = document.createElement("span");
      actions.className = "actions";
      actions.append(
        button("edit", "edit", "Edit this message"),
        button("delete", "delete", "Delete this message")
      );
      item.append(" ", actions);
    }
    return item;
  }

  // A thumbnail that opens the full image. Only the server's own attachment URLs are
  // used (same origin, access-checked), whatever else a frame might carry.
  function attachmentLink(attachment) {
    if (!attachment || typeof attachment.url !== "string") return null;
    const own = (url) => typeof url === "string" && url.startsWith("/api/attachments/");
    if (!own(attachment.url) || !own(attachment.thumbnail_url)) return null;
    const link = document.createElement("a");
    link.className = "attachment";
    link.href = attachment.url;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.className = "thumb";
    img.src = attachment.thumbnail_url;
    img.alt = typeof attachment.name === "string" ? attachment.name : "image";
    if (Number.isInteger(attachment.thumbnail_width)) img.width = attachment.thumbnail_width;
    if (Number.isInteger(attachment.thumbnail_height)) img.height = attachment.thumbnail_height;
    link.append(img);
    return link;
  }

  function markEdited(item) {
    if (item.querySelector(":scope > .edited")) return;
    const marker = span("edited", "(edited)");
    item.querySelector(":scope > .body").after(" ", marker);
  }

  function forget(seq, id) {
    const item = bySeq.get(seq);
    if (item) item.remove();
    bySeq.delete(seq);
    const at = seqs.indexOf(seq);
    if (at >= 0) seqs.splice(at, 1);
    if (id !== undefined) byId.delete(id);
  }

  // message.updated: the new text, marked as edited.
  function updateMessage(message) {
    if (!message || !Number.isInteger(message.id) || typeof message.body !== "string") return;
    const item = byId.get(message.id);
    if (!item) return;
    const atBottom = nearBottom();
    const body = item.querySelector(":scope > .body");
    if (body.textContent !== message.body) body.textContent = message.body;
    markEdited(item);
    settleChange(item, "edit");
    if (atBottom) scrollToBottom();
  }

  function removeMessage(id, seq) {
    if (!Number.isInteger(id)) return;
    deletedIds.add(id);
    const item = byId.get(id);
    const shownSeq = item ? Number(item.dataset.seq) : seq;
    if (Number.isInteger(shownSeq) && bySeq.get(shownSeq) === item) forget(shownSeq, id);
    else byId.delete(id);
  }

  // A saved message from this user settles its outbox entry, however it arrived (ack,
  // broadcast, hello history or a history page).
  function settle(message) {
    if (message.author !== username || typeof message.client_id !== "string") return;
    const item = outboxEls.get(message.client_id);
    if (item) {
      item.remove();
      outboxEls.delete(message.client_id);
    }
    outboxRemove(message.client_id);
  }

  // Insert a saved message at its seq; a seq already shown is never shown twice.
  function insertMessage(message) {
    if (!message || !Number.isInteger(message.seq)) return;
    settle(message);
    if (deletedIds.has(message.id)) return;
    if (bySeq.has(message.seq)) return;
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid] < message.seq) lo = mid + 1;
      else hi = mid;
    }
    const item = messageItem(message);
    // Saved messages come first in seq order; the outbox (pending, failed) stays below.
    const next = lo < seqs.length ? bySeq.get(seqs[lo]) : list.querySelector(":scope > li.outbox");
    list.insertBefore(item, next);
    seqs.splice(lo, 0, message.seq);
    bySeq.set(message.seq, item);
    if (Number.isInteger(message.id)) byId.set(message.id, item);
  }

  function showPending(entry) {
    if (outboxEls.has(entry.client_id)) return;
    const item = document.createElement("li");
    item.className = "message outbox pending";
    item.dataset.clientId = entry.client_id;
    item.append(span("author", username), " ", span("state", "sending…"), " ", span("body", entry.body));
    list.append(item);
    outboxEls.set(entry.client_id, item);
  }

  function markFailed(clientId, detail) {
    outboxRemove(clientId);
    const item = outboxEls.get(clientId);
    if (!item) return;
    item.classList.remove("pending");
    item.classList.add("failed");
    item.querySelector(".state").textContent = "not sent";
    item.title = detail;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "dismiss";
    dismiss.textContent = "dismiss";
    dismiss.addEventListener("click", () => {
      item.remove();
      outboxEls.delete(clientId);
    });
    item.append(" ", dismiss);
  }

  function restoreOutbox() {
    outboxLoad().forEach(showPending);
  }

  // --- presence and typing -----------------------------------------------------------
  // Both are outside the seq stream: frames that are never answered and never resent.

  function names(value) {
    return Array.isArray(value) ? value.filter((name) => typeof name === "string" && name) : [];
  }

  function renderOnline() {
    const atBottom = nearBottom(); // on narrow screens the sidebar takes room from the list
    const items = Array.from(online)
      .sort()
      .map((name) => {
        const item = document.createElement("li");
        item.dataset.username = name;
        item.append(span("name", name));
        if (name === username) {
          item.classList.add("self");
          item.append(" ", span("you", "(you)"));
        }
        return item;
      });
    const more = onlineTotal - online.size;
    if (more > 0) {
      const item = document.createElement("li");
      item.className = "more";
      item.textContent = `and ${more} more`;
      items.push(item);
    }
    onlineEl.replaceChildren(...items);
    onlineCountEl.textContent = onlineTotal ? `(${onlineTotal})` : "";
    if (atBottom) scrollToBottom();
  }

  function renderTyping() {
    const who = Array.from(typists.keys()).sort();
    let text = "";
    if (who.length === 1) text = `${who[0]} is typing…`;
    else if (who.length === 2) text = `${who[0]} and ${who[1]} are typing…`;
    else if (who.length > 2) text = "several people are typing…";
    if (typingEl.textContent !== text) typingEl.textContent = text;
  }

  function typingStarted(name) {
    if (!name || name === username) return; // the server never sends our own; be sure
    clearTimeout(typists.get(name));
    typists.set(
      name,
      setTimeout(() => {
        typists.delete(name);
        renderTyping();
      }, TYPING_SHOWN_MS)
    );
    renderTyping();
  }

  function typingStopped(name) {
    if (!typists.has(name)) return;
    clearTimeout(typists.get(name));
    typists.delete(name);
    renderTyping();
  }

  function typingClearAll() {
    typists.forEach((timer) => clearTimeout(timer));
    typists.clear();
    renderTyping();
  }

  function onPresence(frame) {
    // Idempotent set updates: the joining user gets their own "joined" too.
    names(frame.joined).forEach((name) => {
      if (online.has(name)) return;
      online.add(name);
      onlineTotal += 1;
    });
    names(frame.left).forEach((name) => {
      online.delete(name);
      onlineTotal -= 1;
      typingStopped(name);
    });
    // The server's count wins: in a room bigger than the hello sample a join may be of
    // someone hello already counted, so counting joins and leaves would drift.
    if (Number.isInteger(frame.online_count)) onlineTotal = frame.online_count;
    onlineTotal = Math.max(onlineTotal, online.size);
    renderOnline();
  }

  // Announce typing while the input has text: at most every TYPING_SEND_EVERY_MS, only
  // on an open socket that has had its hello, and never queued for later. Sent outside
  // sendFrame: typing is not answered, so it must not wait in `inflight` for a reply.
  input.addEventListener("input", () => {
    if (!input.value.trim()) return;
    if (!ready || !socket || socket.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    if (now - typingSentAt < TYPING_SEND_EVERY_MS) return;
    typingSentAt = now;
    try {
      socket.send(JSON.stringify({ type: "typing" }));
    } catch (e) {
      /* closing: the close handler reconnects */
    }
  });

  // --- sending -----------------------------------------------------------------------

  function sendFrame(frame, tag) {
    socket.send(JSON.stringify(frame));
    inflight.push(tag);
  }

  function isChange(tag) {
    return tag.kind === "edit" || tag.kind === "delete";
  }

  // Take the tag a reply answers: the first one `matches` accepts. An edit or delete sent
  // before it that got no error by now was answered by nothing: it succeeded (its
  // broadcast comes on its own), so it is dropped too.
  function takeTag(matches) {
    const at = inflight.findIndex(matches);
    if (at < 0) return undefined;
    const tag = inflight[at];
    inflight = inflight.filter((t, i) => i > at || (i < at && !isChange(t)));
    return tag;
  }

  // Which frame an error answers. A send's error names its client_id; the others do not,
  // so the code tells an edit's or delete's failure from a history.fetch's.
  function errorTag(frame) {
    if (typeof frame.client_id === "string" && frame.client_id) {
      const clientId = frame.client_id;
      return (
        takeTag((t) => t.kind === "send" && t.clientId === clientId) || { kind: "send", clientId }
      );
    }
    let tag;
    if (EDIT_ERRORS.has(frame.code)) tag = takeTag(isChange);
    else if (frame.code === "bad_frame") tag = takeTag((t) => t.kind === "fetch");
    return tag || takeTag((t) => t.kind !== "send") || takeTag(() => true);
  }

  // Sends leave one at a time, oldest first, each once the previous one is answered:
  // the room gets them in the order they were written (an ack takes milliseconds, so
  // typing never notices). After a rate_limited reply they are spaced out, the space
  // doubling on each further refusal, until the queue is empty: a long outbox flushed
  // after a reconnect is refused a few times, not once per message (which would close
  // the socket with 4429).
  function pumpSends() {
    clearTimeout(sendTimer);
    sendTimer = null;
    if (!ready || inflight.some((t) => t.kind === "send")) return;
    if (!sendQueue.length) {
      sendGapMs = 0; // caught up: back to full speed
      return;
    }
    const wait = sendHeldUntil - Date.now();
    if (wait > 0) {
      sendTimer = setTimeout(pumpSends, wait);
      return;
    }
    const entries = outboxLoad();
    while (sendQueue.length) {
      const clientId = sendQueue.shift();
      const entry = entries.find((e) => e.client_id === clientId);
      if (!entry) continue; // settled or failed meanwhile
      sendFrame(
        { type: "message.send", body: entry.body, client_id: entry.client_id },
        { kind: "send", clientId: entry.client_id }
      );
      if (sendGapMs) sendHeldUntil = Date.now() + sendGapMs;
      return;
    }
  }

  // Queue a send in outbox order (a retried one goes back before younger ones).
  function queueSend(clientId) {
    if (!sendQueue.includes(clientId)) sendQueue.push(clientId);
    const order = outboxLoad().map((e) => e.client_id);
    sendQueue.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    pumpSends();
  }

  // Hold every send for a while and then try this one again, still first in line.
  function retryLater(clientId, after) {
    const n = retries.get(clientId) || 0;
    retries.set(clientId, n + 1);
    let delay;
    if (after > 0) {
      sendGapMs = Math.min(SEND_GAP_MAX_MS, Math.max(SEND_GAP_MIN_MS, sendGapMs * 2));
      delay = Math.min(BACKOFF_CAP_MS, Math.max(after * 1000, sendGapMs));
    } else {
      delay = Math.min(BACKOFF_CAP_MS, 2000 * 2 ** n) * (0.5 + Math.random() / 2);
    }
    sendHeldUntil = Math.max(sendHeldUntil, Date.now() + delay);
    queueSend(clientId);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!body.trim()) return;
    showError("");
    const entry = { client_id: newClientId(), body, created_at: new Date().toISOString() };
    outboxAdd(entry); // persisted before anything goes on the wire
    showPending(entry);
    scrollToBottom();
    input.value = "";
    queueSend(entry.client_id);
  });

  // --- editing and deleting the user's own messages ----------------------------------
  // Only on a connected socket: unlike messages, these wait in no outbox. Success is the
  // message.updated / message.deleted broadcast (the sender gets it too); a failure is
  // an error frame, shown in #error.

  const changeTimers = new Map(); // "edit:<id>" / "delete:<id>" -> timer that stops waiting

  function part(item, className) {
    return item.querySelector(`:scope > .${className}`);
  }

  function closeEditor(item) {
    for (const name of ["editor", "confirm"]) {
      const el = part(item, name);
      if (el) el.remove();
    }
    part(item, "body").hidden = false;
    const actions = part(item, "actions");
    if (actions) actions.hidden = false;
    item.classList.remove("editing", "confirming");
  }

  function openEditor(item) {
    closeEditor(item);
    const body = part(item, "body");
    const editor = document.createElement("input");
    editor.className = "editor";
    if (input.maxLength > 0) editor.maxLength = input.maxLength;
    editor.value = body.textContent;
    editor.setAttribute("aria-label", "Edit message: Enter saves, Escape cancels");
    editor.title = "Enter saves, Escape cancels";
    body.hidden = true;
    part(item, "actions").hidden = true;
    body.after(editor);
    item.classList.add("editing");
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
  }

  function askDelete(item) {
    closeEditor(item);
    const confirm = document.createElement("span");
    confirm.className = "confirm";
    const no = button("keep", "no", "No, keep it");
    confirm.append("Delete? ", button("confirm-delete", "yes", "Yes, delete it"), " ", no);
    part(item, "actions").hidden = true;
    part(item, "actions").after(confirm);
    item.classList.add("confirming");
    no.focus();
  }

  function settleChange(item, kind) {
    item.classList.remove(kind === "edit" ? "saving" : "deleting");
    const id = Number(item.dataset.id);
    clearTimeout(changeTimers.get(`${kind}:${id}`));
    changeTimers.delete(`${kind}:${id}`);
  }

  // Send an edit or delete now, or say why not; true when it went out.
  function sendChange(item, kind, frame) {
    if (!ready || !socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected: try again once the page has reconnected.");
      return false;
    }
    try {
      sendFrame(frame, { kind, id: frame.id });
    } catch (e) {
      showError("Not connected: try again once the page has reconnected.");
      return false;
    }
    showError("");
    item.classList.add(kind === "edit" ? "saving" : "deleting");
    const key = `${kind}:${frame.id}`;
    clearTimeout(changeTimers.get(key));
    changeTimers.set(key, setTimeout(() => settleChange(item, kind), CHANGE_PENDING_MS));
    return true;
  }

  function saveEdit(item, editor) {
    const body = editor.value;
    if (body === part(item, "body").textContent) {
      closeEditor(item); // nothing changed: nothing to send
      return;
    }
    const frame = { type: "message.edit", id: Number(item.dataset.id), body };
    if (sendChange(item, "edit", frame)) closeEditor(item);
  }

  list.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    const item = target && target.closest("li.message");
    if (!item || !item.dataset.id || !list.contains(item)) return;
    switch (target.dataset.action) {
      case "edit":
        openEditor(item);
        break;
      case "delete":
        askDelete(item);
        break;
      case "confirm-delete":
        if (sendChange(item, "delete", { type: "message.delete", id: Number(item.dataset.id) })) {
          closeEditor(item);
        }
        break;
      case "keep":
        closeEditor(item);
        break;
    }
  });

  list.addEventListener("keydown", (event) => {
    const target = event.target;
    const item = target instanceof Element ? target.closest("li.message") : null;
    if (!item) return;
    if (target.classList.contains("editor") && event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      saveEdit(item, target);
    } else if (event.key === "Escape" && item.matches(".editing, .confirming")) {
      event.preventDefault();
      closeEditor(item);
      part(item, "actions").querySelector("button").focus();
    }
  });

  // --- history: scrollback and gap filling -------------------------------------------

  function maybeLoadOlder() {
    if (!ready || olderLoading || olderExhausted || !seqs.length) return;
    if (seqs[0] <= 1) {
      olderExhausted = true;
      return;
    }
    if (list.scrollTop > NEAR_EDGE_PX) return;
    olderLoading = true;
    sendFrame(
      { type: "history.fetch", before: seqs[0], limit: OLDER_PAGE },
      { kind: "fetch", purpose: "older", limit: OLDER_PAGE }
    );
  }

  function fillGaps() {
    if (!ready || gapLoading || !gaps.length) return;
    gapLoading = true;
    sendFrame(
      { type: "history.fetch", before: gaps[0].high, limit: GAP_PAGE },
      { kind: "fetch", purpose: "gap", limit: GAP_PAGE }
    );
  }

  // Insert messages anywhere but keep what the reader sees where it is on screen.
  function insertKeepingView(messages) {
    const fromBottom = list.scrollHeight - list.scrollTop;
    messages.forEach(insertMessage);
    list.scrollTop = list.scrollHeight - fromBottom;
  }

  function onHistory(frame, tag) {
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    insertKeepingView(messages);
    if (tag && tag.purpose === "gap") {
      gapLoading = false;
      const gap = gaps[0];
      if (gap) {
        const lowest = messages.length ? messages[0].seq : gap.low;
        if (messages.length < tag.limit || lowest <= gap.low + 1) gaps.shift();
        else gap.high = lowest;
      }
      fillGaps();
    } else {
      olderLoading = false;
      if (messages.length < ((tag && tag.limit) || OLDER_PAGE)) olderExhausted = true;
    }
    maybeLoadOlder(); // still at the top, or the list does not fill its box yet
  }

  // --- frames ------------------------------------------------------------------------

  function onHello(frame) {
    clearTimeout(helloTimer);
    ready = true;
    everConnected = true;
    attempt = 0;
    resumable = true;
    const helloUser = frame.user && frame.user.username;
    if (helloUser && helloUser !== username) {
      // The page was rendered for someone else (a login in another tab): switch outbox.
      outboxEls.forEach((item) => item.remove());
      outboxEls.clear();
      username = helloUser;
      restoreOutbox();
    }
    // hello.online is the truth after every (re)connect: replace, do not merge. Typing
    // frames missed while away are unknowable, so indicators start afresh too.
    online = new Set(names(frame.online));
    onlineTotal = Number.isInteger(frame.online_count) ? frame.online_count : online.size;
    online.add(username); // counted in online_count, perhaps not in a big room's sample
    onlineTotal = Math.max(onlineTotal, online.size);
    renderOnline();
    typingClearAll();
    const history = Array.isArray(frame.history) ? frame.history : [];
    const first = !seqs.length;
    const atBottom = nearBottom();
    const previous = cursor;
    history.forEach(insertMessage);
    if (history.length) {
      const top = history[history.length - 1].seq;
      cursor = previous === null ? top : Math.max(previous, top);
      const resumed = frame.resumed;
      if (resumed && resumed.complete === false) {
        gaps.push({ low: resumed.after, high: history[0].seq });
      } else if (!resumed && previous !== null && history[0].seq > previous + 1) {
        gaps.push({ low: previous, high: history[0].seq }); // reconnected without ?after
      }
    } else if (cursor === null) {
      cursor = 0;
    }
    // Resend the whole outbox, oldest first and one at a time, with the original
    // client_ids: the server returns the saved message for any it already has.
    const pending = outboxLoad();
    pending.forEach(showPending);
    sendQueue = pending.map((e) => e.client_id);
    pumpSends();
    if (first || atBottom) scrollToBottom();
    updateStatus();
    fillGaps();
    maybeLoadOlder();
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "hello":
        onHello(frame);
        break;
      case "message": {
        const atBottom = nearBottom();
        insertMessage(frame.message);
        if (frame.message && Number.isInteger(frame.message.seq)) {
          cursor = Math.max(cursor || 0, frame.message.seq);
        }
        if (frame.message && typeof frame.message.author === "string") {
          typingStopped(frame.message.author); // their message is here: done typing
        }
        if (atBottom) scrollToBottom();
        break;
      }
      case "presence":
        onPresence(frame);
        break;
      case "typing":
        if (typeof frame.user === "string") typingStarted(frame.user);
        break;
      case "message.updated":
        updateMessage(frame.message);
        break;
      case "message.deleted": {
        const atBottom = nearBottom();
        removeMessage(frame.id, frame.seq);
        if (atBottom) scrollToBottom();
        break;
      }
      case "ack": {
        const clientId = frame.client_id;
        takeTag((t) => t.kind === "send" && t.clientId === clientId);
        const atBottom = nearBottom();
        insertMessage(frame.message);
        const item = outboxEls.get(frame.client_id);
        if (item && item.classList.contains("pending")) {
          item.remove();
          outboxEls.delete(frame.client_id);
        }
        outboxRemove(frame.client_id);
        if (atBottom) scrollToBottom();
        pumpSends();
        break;
      }
      case "history":
        onHistory(frame, takeTag((t) => t.kind === "fetch"));
        break;
      case "error": {
        const tag = errorTag(frame);
        const detail = typeof frame.detail === "string" ? frame.detail : String(frame.code);
        showError(detail);
        if (tag && tag.kind === "send") {
          const wait = Number(frame.retry_after) || 1; // rate_limited says how long
          if (frame.code === "rate_limited") retryLater(tag.clientId, wait);
          else if (RETRYABLE_ERRORS.has(frame.code)) retryLater(tag.clientId);
          else {
            markFailed(tag.clientId, detail);
            pumpSends();
          }
        } else if (tag && isChange(tag)) {
          const item = byId.get(tag.id);
          if (item) settleChange(item, tag.kind);
        } else if (tag && tag.purpose === "gap") {
          gapLoading = false;
          if (!RETRYABLE_ERRORS.has(frame.code)) gaps.shift();
          setTimeout(fillGaps, 2000);
        } else if (tag && tag.purpose === "older") {
          olderLoading = false; // the next scroll to the top tries again
          if (!RETRYABLE_ERRORS.has(frame.code)) olderExhausted = true;
        }
        break;
      }
    }
  }

  // --- connection --------------------------------------------------------------------

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (stoppedText || socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}/ws/chat/${encodeURIComponent(slug)}/`;
    if (cursor !== null && resumable) url += `?after=${cursor}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect(null);
      return;
    }
    socket = ws;
    ready = false;
    inflight = [];
    ws.onmessage = (event) => {
      if (ws !== socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame.type === "string") onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws === socket) onClose(event.code);
    };
    clearTimeout(helloTimer);
    helloTimer = setTimeout(() => {
      if (ws === socket && !ready) abandon(); // stuck connecting (a silent network)
    }, HELLO_TIMEOUT_MS);
    updateStatus();
  }

  // Forget the current socket now, without waiting for a close handshake that may
  // never come, and reconnect as after a lost connection.
  function abandon() {
    const ws = socket;
    if (!ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close();
    } catch (e) {
      /* already closed */
    }
    onClose(1006);
  }

  function onClose(code) {
    const hadHello = ready;
    clearTimeout(helloTimer);
    socket = null;
    ready = false;
    inflight = []; // unanswered sends stay in the outbox and go again after the next hello
    sendQueue = []; // rebuilt from the outbox by the next hello
    clearTimeout(sendTimer);
    olderLoading = false;
    gapLoading = false;
    typingClearAll(); // cut off from the room: no message or leave would clear them
    // An edit or delete still unanswered may or may not have been saved; stop waiting.
    list.querySelectorAll("li.saving, li.deleting").forEach((item) => {
      settleChange(item, "edit");
      settleChange(item, "delete");
    });
    if (code === 4401) {
      location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (code === 4403 || code === 4404) {
      // Access lost (a removal, a ban, a deactivation) or the room is gone: for good.
      stoppedText = code === 4404 ? "room not found" : "no access";
      showError(code === 4404 ? "This room no longer exists." : NO_ACCESS_TEXT);
      input.disabled = true;
      form.querySelector("button[type=submit]").disabled = true;
      attachButton.disabled = true;
      list.querySelectorAll("li.editing, li.confirming").forEach(closeEditor);
      list.querySelectorAll("li.message > .actions").forEach((el) => el.remove());
      updateStatus();
      return;
    }
    if (code === 4408) {
      // Closed for idleness: reconnecting at once would only be closed again. Wait for
      // the user (wake() below) and resume from the cursor then.
      idle = true;
      updateStatus();
      return;
    }
    if (code === 4400) resumable = false; // the resume point was refused: start afresh
    if (code === 4429) {
      // Too many connections or attempts (or a flood): never at once, and slower each time.
      scheduleReconnect(TOO_MANY_MIN_MS + Math.random() * backoffCeiling());
      attempt += 1;
    } else {
      scheduleReconnect(code === 1012 && hadHello ? 200 + Math.random() * 800 : null);
    }
    updateStatus();
  }

  function backoffCeiling() {
    return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  }

  function scheduleReconnect(delay) {
    if (delay === null) {
      // Exponential backoff with full jitter.
      delay = Math.random() * backoffCeiling();
      attempt += 1;
    }
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  // After a 4408: the next sign of a user at the page reconnects.
  function wake() {
    if (!idle || stoppedText) return;
    idle = false;
    attempt = 0;
    connect();
  }
  for (const type of ["keydown", "pointerdown", "click", "focusin"]) {
    document.addEventListener(type, wake, true);
  }
  window.addEventListener("focus", wake);

  window.addEventListener("offline", () => {
    // The socket is most likely dead; do not wait for TCP to notice.
    if (socket) abandon();
    updateStatus();
  });
  window.addEventListener("online", () => {
    if (stoppedText) return;
    if (socket && !ready) abandon();
    if (!socket && !idle) connect();
    updateStatus();
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted || stoppedText) return; // back from the back/forward cache:
    if (socket) abandon(); // its socket did not survive
    idle = false; // the user is back
    connect();
  });
  list.addEventListener("scroll", maybeLoadOlder, { passive: true });

  // --- images --------------------------------------------------------------------------
  // Posted over HTTP with the session (and its CSRF token); the saved message comes back
  // in the response and to everyone through the socket. A client_id makes a retry safe.

  const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);
  const maxImageBytes = Number(form.dataset.maxImageBytes) || 0;

  function csrfToken() {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function imageFiles(list) {
    return Array.from(list || []).filter((file) => file && IMAGE_TYPES.has(file.type));
  }

  async function uploadImage(file) {
    if (stoppedText) return;
    if (maxImageBytes && file.size > maxImageBytes) {
      showError(`That image is too large (at most ${Math.floor(maxImageBytes / 1048576)} MB).`);
      return;
    }
    const pending = document.createElement("li");
    pending.className = "message pending upload";
    pending.append(span("author", username), " ", span("state", `uploading ${file.name || "image"}…`));
    const atBottom = nearBottom();
    list.append(pending);
    if (atBottom) scrollToBottom();
    const data = new FormData();
    data.append("file", file, file.name || "pasted-image");
    data.append("client_id", newClientId());
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(slug)}/images/`, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      let payload = null;
      try {
        payload = await response.json();
      } catch (e) {
        payload = null;
      }
      if (!response.ok) {
        const detail = payload && payload.error && payload.error.detail;
        showError(typeof detail === "string" ? detail : `Upload failed (${response.status}).`);
        return;
      }
      showError("");
      const keep = nearBottom();
      insertMessage(payload); // a seq already shown (the broadcast won) is not shown twice
      if (keep) scrollToBottom();
    } catch (e) {
      showError("Upload failed: not connected. Try again.");
    } finally {
      pending.remove();
    }
  }

  function uploadAll(files) {
    imageFiles(files).forEach((file) => uploadImage(file));
  }

  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    uploadAll(fileInput.files);
    fileInput.value = "";
  });
  document.addEventListener("paste", (event) => {
    const files = imageFiles(event.clipboardData && event.clipboardData.files);
    if (!files.length) return; // plain text pastes as usual
    event.preventDefault();
    uploadAll(files);
  });
  roomEl.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    roomEl.classList.add("dropping");
  });
  roomEl.addEventListener("dragleave", (event) => {
    if (event.target === roomEl) roomEl.classList.remove("dropping");
  });
  roomEl.addEventListener("drop", (event) => {
    roomEl.classList.remove("dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    uploadAll(event.dataTransfer.files);
  });

  restoreOutbox();
  connect();
})();
