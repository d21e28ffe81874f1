// Which room is shown and how the page moves between rooms: switching in place
// (history.pushState, popstate), opening a room's list, previews (room.watch), Join and
// Leave, and what room.joined / room.watching / room.left change. Sends only room frames.

import { NO_ACCESS_TEXT } from "./roomview.js";

export function slugFromPath(path) {
  const match = /^\/chat\/([^/]+)\/$/.exec(path);
  return match ? decodeURIComponent(match[1]) : null;
}

export class Navigation {
  // page: store, conn, timelines, timelineFor(slug), presence, composer, sidebar,
  // render() (the room shown), renderSidebar(), showError(text), readSoon(slug),
  // wantDirectProfiles(). elements: main (holds the shown <ol>), join, leave.
  constructor(initialSlug, page, elements) {
    this.current = initialSlug;
    this.watching = null; // the public room previewed with room.watch, if any
    this.page = page;
    this.roomMain = elements.main;
    page.sidebar.current = initialSlug;
    window.addEventListener("popstate", () => {
      const slug = slugFromPath(location.pathname);
      if (slug) this.switchTo(slug, false);
    });
    elements.join.addEventListener("click", () => {
      page.conn.send({ type: "room.join", room: this.current }, { kind: "join", room: this.current });
    });
    elements.leave.addEventListener("click", () => {
      page.conn.send({ type: "room.leave", room: this.current }, { kind: "leave", room: this.current });
    });
  }

  showTimeline(timeline) {
    const shown = this.roomMain.querySelector(":scope > ol");
    if (shown === timeline.list) return;
    if (shown) {
      const previous = [...this.page.timelines.values()].find((t) => t.list === shown);
      if (previous) previous.scrollTop = shown.scrollTop;
      shown.removeAttribute("id");
      shown.replaceWith(timeline.list);
    } else {
      this.roomMain.prepend(timeline.list);
    }
    timeline.list.id = "messages";
  }

  // Show the room `current` names: its messages (read once with history.fetch, then live),
  // who is online, and the "New messages" line. `switched`: the user came to it just now
  // (after a reconnect the view stays where it was).
  open(switched = false) {
    const { store, conn } = this.page;
    const slug = this.current;
    const room = store.get(slug);
    const timeline = this.page.timelineFor(slug);
    const hadScroll = timeline.scrollTop;
    this.showTimeline(timeline);
    this.page.presence.show(room);
    this.page.render();
    if (!conn.ready) return; // the next hello opens it
    if (!room || (!room.joined && this.watching !== slug)) {
      if (!room || !room.lost) this.watch(slug);
      return;
    }
    if (!timeline.loaded) {
      timeline.openedRead = room.readSeq;
      timeline.load(room.lastSeq);
    } else if (switched) {
      // Back to a room already held: the line where the unread begin, or where it was.
      const marked = room.unread() > 0 && timeline.placeMarker(room.readSeq);
      if (!marked) timeline.clearMarker();
      if (marked || hadScroll === null) timeline.scrollForOpen();
      else timeline.list.scrollTop = hadScroll;
    }
    conn.send({ type: "online.fetch", room: slug }, { kind: "online", room: slug });
    this.page.readSoon(slug);
  }

  watch(slug) {
    if (this.page.conn.send({ type: "room.watch", room: slug }, { kind: "watch", room: slug })) this.watching = slug;
  }

  switchTo(slug, push) {
    if (!slug || slug === this.current) return;
    const { store, conn, timelines } = this.page;
    if (push) history.pushState({ slug }, "", `/chat/${encodeURIComponent(slug)}/`);
    const previous = this.current;
    this.current = slug;
    this.page.sidebar.current = slug;
    this.page.showError("");
    const left = store.get(previous);
    if (left && !left.joined) {
      // A preview (or a room lost while shown) is not kept: its events stop.
      if (this.watching === previous) {
        conn.send({ type: "room.watch", room: null });
        this.watching = null;
      }
      store.rooms.delete(previous);
      timelines.delete(previous);
    }
    this.open(true);
  }

  onJoined(info) {
    if (!info || typeof info.slug !== "string") return;
    const { store, timelines } = this.page;
    const slug = info.slug;
    if (this.watching === slug) this.watching = null; // joining ends the watch
    const timeline = timelines.get(slug);
    store.upsert(info, true);
    // Its stream on this socket starts after last_seq now: read what lies between.
    if (timeline) timeline.onHello(undefined, Number(info.last_seq) || 0);
    this.page.composer.onHello([...store.joined().map((r) => r.slug)]);
    this.page.wantDirectProfiles();
    if (slug === this.current) this.open();
    else this.page.renderSidebar();
  }

  onWatching(info) {
    if (!info || typeof info.slug !== "string") return;
    const { store, timelines } = this.page;
    const slug = info.slug;
    if (slug !== this.current || store.get(slug)?.joined) {
      if (this.watching === slug && slug !== this.current) this.page.conn.send({ type: "room.watch", room: null });
      return;
    }
    this.watching = slug;
    const timeline = timelines.get(slug);
    store.upsert(info, false);
    if (timeline) timeline.onHello(undefined, Number(info.last_seq) || 0);
    this.open();
  }

  onLeft(slug, reason) {
    const { store, timelines } = this.page;
    const room = store.get(slug);
    if (!room) return;
    room.joined = false;
    if (slug !== this.current) {
      store.rooms.delete(slug);
      timelines.delete(slug);
      store.changed();
      return;
    }
    room.lost = reason;
    if (reason !== "left") {
      const timeline = timelines.get(slug);
      if (timeline) timeline.freeze();
      this.page.composer.failAll(slug, NO_ACCESS_TEXT);
    }
    store.changed();
    this.page.render();
  }
}
