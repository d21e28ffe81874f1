// Files posted over HTTP (any file: the server makes image messages of images that
// decode), for the room's composer and the thread panel's alike: the request (with
// `thread` and `also_to_room` for a reply in a thread), its placeholder line in the list
// it goes to, the saved message drawn there when it comes back (everyone else gets it
// through the socket), and Attach, paste and drop wired to a composer. A client_id makes
// a retry safe. It never touches the outbox: an upload is one request, not a queued send.

import { newClientId } from "./dom.js";

const MIB = 1048576;

// The multipart form of one upload (its `thread` fields only for a reply in a thread).
export function uploadForm(file, clientId, thread = null, alsoToRoom = false) {
  const data = new FormData();
  data.append("file", file, file.name || "pasted-file");
  data.append("client_id", clientId);
  if (Number.isInteger(thread)) {
    data.append("thread", String(thread));
    data.append("also_to_room", alsoToRoom ? "true" : "false");
  }
  return data;
}

// What to tell the user about a file over the limit before sending it ("" when it fits).
export function tooLargeText(size, maxBytes) {
  if (!maxBytes || !(size > maxBytes)) return "";
  return `That file is too large (at most ${Math.floor(maxBytes / MIB)} MB).`;
}

// The server's own words for a refused upload (its error's detail), else the status.
export function uploadErrorText(status, payload) {
  const detail = payload && payload.error && payload.error.detail;
  return typeof detail === "string" && detail ? detail : `Upload failed (${status}).`;
}

// Post one file into room `slug`. to: lines() -> the Timeline its placeholder and saved
// message go to (asked again when the answer comes: the list may be gone), showError(text),
// csrf, maxBytes, thread, alsoToRoom. Resolves to the saved message, or null.
export async function uploadFile(slug, file, to) {
  const tooLarge = tooLargeText(file.size, to.maxBytes);
  if (tooLarge) {
    to.showError(tooLarge);
    return null;
  }
  const lines = to.lines();
  const done = lines ? lines.showUpload(file.name || "file") : () => {};
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(slug)}/files/`, {
      method: "POST",
      body: uploadForm(file, newClientId(), to.thread ?? null, to.alsoToRoom === true),
      credentials: "same-origin",
      headers: { "X-CSRFToken": to.csrf, Accept: "application/json" },
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      to.showError(uploadErrorText(response.status, payload));
      return null;
    }
    to.showError("");
    const shown = to.lines();
    if (shown) {
      const keep = shown.nearBottom();
      shown.insert(payload); // a seq already shown (the broadcast won) is not shown twice
      if (keep) shown.scrollToBottom();
    }
    return payload;
  } catch {
    to.showError("Upload failed: not connected. Try again.");
    return null;
  } finally {
    done();
  }
}

const carriesFiles = (event) => Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types).includes("Files");

// Attach (a button opening a hidden file input), paste (files pasted in `paste`) and drop
// (on `zone`, outlined while files are dragged over it), each handing the files to
// take(files). A paste or drop taken by a nearer element (the thread panel inside the
// room) is left to it: the event arrives here with its default prevented.
export function wireFileSources({ attach, input, paste, zone }, take) {
  attach.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    take(Array.from(input.files || []));
    input.value = "";
  });
  paste.addEventListener("paste", (event) => {
    const files = event.clipboardData && event.clipboardData.files;
    if (event.defaultPrevented || !files || !files.length) return;
    event.preventDefault(); // plain text pastes as usual
    take(Array.from(files));
  });
  zone.addEventListener("dragover", (event) => {
    if (event.defaultPrevented || !carriesFiles(event)) {
      zone.classList.remove("dropping");
      return;
    }
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (event.target === zone) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("dropping");
    if (event.defaultPrevented || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    take(Array.from(event.dataTransfer.files));
  });
}
