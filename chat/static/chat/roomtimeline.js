// A room's Timeline as the room page makes it: its requests (history.fetch, edits and
// reactions, reading, "Jump to latest", retries through the outbox, opening a thread)
// wired to the page's parts. Made once per room and kept in the page's `timelines`. The
// Timeline class is handed in by main.js: importing it here would make the chain of
// imports one longer than the static files' hashing follows (chatsite/storage.py).

// Send an edit, a deletion or a reaction: false (and the error line says so) when the
// socket is not open.
export function sendChange(conn, showError, kind, frame) {
  if (!conn.send(frame, { kind, id: frame.id })) {
    showError("Not connected: try again once the page has reconnected.");
    return false;
  }
  showError("");
  return true;
}

// deps: Timeline (the class), conn, store, timelines, composer(), jumpLatest(), threads(), readSoon(slug),
// canWrite(slug), showError(text), username(), profiles, maxBodyChars. Returns
// timelineFor(slug) -> the room's Timeline, made (and its outbox restored) on first use.
export function timelineMaker(deps) {
  const { Timeline, conn, store, timelines, readSoon, canWrite, showError, username, profiles, maxBodyChars } = deps;
  return function timelineFor(slug) {
    let timeline = timelines.get(slug);
    if (timeline) return timeline;
    timeline = new Timeline(slug, {
      fetch: (room, before, limit, purpose) =>
        conn.send({ type: "history.fetch", room, before, limit }, { kind: "fetch", room, before, limit, purpose }),
      // at: {around: seq} or {after: seq} (a message opened in context, then read forward)
      fetchAt: (room, at, limit, purpose) =>
        conn.send({ type: "history.fetch", room, ...at, limit }, { kind: "fetch", room, ...at, limit, purpose }),
      change: (kind, frame) => sendChange(conn, showError, kind, frame),
      seen: () => {
        readSoon(slug);
        deps.jumpLatest().update(slug);
      },
      viewChanged: (room) => deps.jumpLatest().update(room),
      readSeq: () => store.get(slug)?.readSeq ?? 0,
      // A failed message sent again: back in the outbox, with its client_id.
      retry: (room, entry) => {
        if (!canWrite(room)) {
          showError("You cannot write here.");
          return;
        }
        const composer = deps.composer();
        composer.outbox.add(room, username(), entry);
        timelines.get(room)?.showPending(entry);
        composer.queue(room, entry.client_id);
      },
      settled: (room, clientId) => deps.composer().settled(room, clientId),
      openThread: (root, opener) => deps.threads().openFromRoom(slug, root, opener),
      username,
      profile: (name) => profiles.get(name),
      maxBodyChars,
    });
    timelines.set(slug, timeline);
    deps.composer().restore(slug);
    return timeline;
  };
}
