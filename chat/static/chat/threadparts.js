// The room page's threads, wired (docs/page.md, "Threads"): the thread panel, its
// composer and reading, the sidebar's Threads entry and view, the summaries under roots,
// and what each frame about threads changes. main.js makes one ThreadParts; frames.js
// hands it the frames (and the parts of frames) that concern threads. State is the
// ThreadStates of threadstate.js; every piece of the DOM belongs to one of the parts.

import { DROPS_ROOM_ERRORS, ErrorCode, RETRYABLE_ERRORS } from "./codes.js";
import { EmojiCompletion } from "./emojicomplete.js";
import { JumpLatest } from "./jumplatest.js";
import { MentionPicker } from "./mentionpicker.js";
import { deletedRootItem } from "./message.js";
import { noteSummary, refreshSummaries, setSummaryProfiles, showSummary, summaryOf } from "./threadsummary.js";
import { applyReaction } from "./reactions.js";
import { ThreadComposer } from "./threadcomposer.js";
import { ThreadPanel, threadFromLocation } from "./threadpanel.js";
import { ThreadReading } from "./threadreading.js";
import { ThreadsView } from "./threadslist.js";
import { routeOf, ThreadStates } from "./threadstate.js";
import { slugFromPath } from "./navigation.js";

const $ = (id) => document.getElementById(id);

export class ThreadParts {
  // page: Timeline (the class), conn, store, profiles, composer, nav (current, switchTo), timelines,
  // username(), canWrite(slug), showError(text), maxBodyChars, notifier, readSoon(slug)
  // (the room's reading: its list may be uncovered), change(kind, frame) -> bool.
  constructor(page) {
    this.page = page;
    this.states = new ThreadStates();
    this.highest = new Map(); // slug -> the highest seq of the room's stream seen
    setSummaryProfiles(page.profiles);
    const roomLabel = (slug) => page.store.get(slug)?.label() ?? slug;
    this.panel = new ThreadPanel(
      {
        Timeline: page.Timeline,
        conn: page.conn,
        states: this.states,
        username: page.username,
        profile: (name) => page.profiles.get(name),
        name: (name) => page.profiles.name(name),
        roomLabel: (slug) => `#${roomLabel(slug)}`,
        roomTimeline: (slug) => page.timelines.get(slug),
        roomLastSeq: (slug) => Math.max(page.store.get(slug)?.lastSeq ?? 0, this.highest.get(slug) ?? 0),
        change: page.change,
        retry: (slug, entry) => {
          if (page.canWrite(slug)) page.composer.sendInThread(slug, entry);
          else page.showError("You cannot write here.");
        },
        settled: (slug, clientId) => page.composer.settled(slug, clientId),
        maxBodyChars: page.maxBodyChars,
        seen: () => {
          this.reading.soon();
          this.jump.render(); // what is in view moved: the count of newer replies too
        },
        viewChanged: () => this.jump.render(),
        shown: (open, focus) => this.panelShown(open, focus),
      },
      {
        panel: $("thread-panel"),
        room: $("thread-room"),
        follow: $("thread-follow"),
        close: $("thread-close"),
        main: $("thread-main"),
        typing: $("thread-typing"),
      }
    );
    // The room's "Jump to latest" (jumplatest.js), over the panel's replies.
    this.jump = new JumpLatest($("thread-jump-latest"), {
      current: () => this.panel.slug,
      timeline: () => this.panel.timeline,
    });
    this.writer = new ThreadComposer(
      {
        composer: page.composer,
        where: () => (this.panel.isOpen() ? { slug: this.panel.slug, root: this.panel.root } : null),
        canWrite: page.canWrite,
        username: page.username,
        roomLabel: (slug) => `#${roomLabel(slug)}`,
        sent: () => this.panel.timeline?.scrollToBottom(),
        editLast: () => {
          const timeline = this.panel.timeline;
          const id = timeline ? timeline.lastOwnId() : null;
          return id !== null && timeline.edits.startEditing(id);
        },
        lines: (slug, root) => (this.panel.shows(slug, root) ? this.panel.timeline : null),
        showError: page.showError,
      },
      {
        form: $("thread-composer"),
        input: $("thread-body"),
        also: $("thread-also"),
        alsoRoom: $("thread-also-room"),
        attach: $("thread-attach"),
        fileInput: $("thread-file-input"),
        error: $("thread-error"),
        panel: $("thread-panel"),
      }
    );
    // The room composer's completions, in the thread's composer too.
    this.picker = new MentionPicker(
      { send: (frame, tag) => page.conn.send(frame, tag), current: () => this.panel.slug },
      { input: $("thread-body"), list: $("thread-mention-list") }
    );
    new EmojiCompletion({ input: $("thread-body"), list: $("thread-emoji-list") });
    this.reading = new ThreadReading({
      conn: page.conn,
      states: this.states,
      panel: this.panel,
      visible: () => !this.panel.els.panel.hidden,
    });
    this.view = new ThreadsView(
      {
        conn: page.conn,
        states: this.states,
        roomLabel,
        name: (name) => page.profiles.name(name),
        open: (slug, root, message, opener) => this.open(slug, root, { root: message, opener, from: "threads" }),
        follow: (slug, root, following) => this.follow(slug, root, following),
        shown: (open) => {
          // Opened from the phone's drawer: the drawer folds away (sidebar.js's toggle).
          if (open && document.body.classList.contains("sidebar-open")) $("sidebar-toggle").click();
          if (!open) page.readSoon(page.nav.current);
        },
      },
      {
        entry: $("threads-open"),
        count: $("threads-count"),
        mentions: $("threads-mentions"),
        view: $("threads-view"),
        list: $("threads-list"),
        status: $("threads-status"),
        more: $("threads-more"),
        all: $("threads-all"),
        unreads: $("threads-unreads"),
        close: $("threads-close"),
      }
    );
    this.view.renderEntry();
    page.profiles.onChange((usernames) => {
      page.timelines.forEach((timeline) => refreshSummaries(timeline.list, usernames));
      this.panel.timeline?.refreshAuthors(usernames);
    });
    window.addEventListener("popstate", () => this.followLocation());
    document.addEventListener("keydown", (event) => this.onKeydown(event));
  }

  // --- opening and closing -------------------------------------------------------------------

  // Open a thread: in its room (switched to first), at a reply (`at`) if given.
  open(slug, root, options = {}) {
    const nav = this.page.nav;
    let historyMode = options.history ?? "push";
    if (slug !== nav.current) {
      nav.switchTo(slug, true);
      if (historyMode === "push") historyMode = "replace"; // one entry: the room at the thread
    }
    this.openedFrom = options.from ?? null;
    if (this.view.isOpen()) this.view.close(false);
    this.panel.open(slug, root, { ...options, history: historyMode });
  }

  // The room list's "Reply in thread", a summary, or a reply's mark.
  openFromRoom(slug, root, opener) {
    const item = this.page.timelines.get(slug)?.byId.get(root);
    this.open(slug, root, { root: item?.message ?? null, opener });
  }

  panelShown(open, focus) {
    this.writer.show();
    this.jump.render();
    if (open) {
      this.page.composer.restore(this.panel.slug, this.panel.root);
      if (focus) this.writer.focus();
      this.reading.soon();
    } else if (this.openedFrom === "threads") {
      this.openedFrom = null;
      this.view.show(); // back to the list it was opened from
    } else {
      this.page.readSoon(this.page.nav.current); // the room's list is in view again
    }
  }

  // A panel covers the room's list (full-screen, on a phone): reading.js waits.
  coversRoom() {
    return [this.panel.els.panel, this.view.els.view].some((el) => !el.hidden && getComputedStyle(el).position === "fixed");
  }

  // The room shown changed (navigation.js renders): a thread of another room closes.
  onRoomShown() {
    if (this.panel.isOpen() && this.panel.slug !== this.page.nav.current) {
      this.openedFrom = null;
      this.panel.close({ focus: false });
    }
    this.panel.renderHead();
    this.writer.show();
  }

  // The address bar moved (back/forward): ?thread= opens or closes the panel.
  followLocation() {
    const slug = slugFromPath(location.pathname);
    const root = threadFromLocation();
    if (slug && root !== null) {
      if (!this.panel.shows(slug, root)) this.open(slug, root, { history: "none", focus: false });
    } else if (this.panel.isOpen()) {
      this.openedFrom = null;
      this.panel.close({ focus: false });
    }
  }

  // Escape closes the panel (or the Threads view), unless something nearer takes it.
  onKeydown(event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (document.querySelector("dialog[open]") || document.body.classList.contains("sidebar-open")) return;
    if (document.querySelector("#room-bar.menu-open")) return;
    if (this.panel.isOpen()) {
      event.preventDefault();
      this.panel.close({ history: "push" });
    } else if (this.view.isOpen()) {
      event.preventDefault();
      this.view.close();
    }
  }

  follow(slug, root, following) {
    const frame = { type: "thread.follow", room: slug, root, following };
    if (!this.page.conn.send(frame, { kind: "thread", room: slug, root })) {
      this.page.showError("Not connected: try again once the page has reconnected.");
    }
  }

  // --- frames ----------------------------------------------------------------------------------

  onHello(frame) {
    this.states.setTotals(frame.threads);
    this.view.renderEntry();
    this.panel.onHello();
    // The outbox was drawn before the panel's list was made again: its thread's lines too.
    if (this.panel.isOpen()) this.page.composer.restore(this.panel.slug, this.panel.root);
    this.view.onHello();
    this.writer.show();
  }

  // Every message frame of the stream that names a thread (routeOf): true when the
  // panel shows it (frames.js announces it then).
  onMessage(slug, message) {
    this.highest.set(slug, Math.max(this.highest.get(slug) ?? 0, message.seq));
    const shown = this.panel.onMessage(slug, message);
    const mine = message.author === this.page.username();
    if (!shown && mine && typeof message.client_id === "string") this.page.composer.settled(slug, message.client_id);
    if (shown && !mine) this.reading.soon();
    if (routeOf(message).room) return shown; // the room's list handles the rest
    const state = this.states.get(slug, message.thread);
    // thread.state (auto-follow included) comes after the message: a first reply in a
    // thread that names the user counts through its mention.
    if (!mine) this.page.notifier.onMessage(slug, message, Boolean(state && state.following && !state.unknown));
    return shown;
  }

  // An ack of a reply: shown in the panel when it shows that thread; the outbox settles.
  onAck(slug, frame) {
    const message = frame.message;
    if (message && this.panel.shows(slug, message.thread) && this.panel.timeline) {
      const timeline = this.panel.timeline;
      const keep = timeline.nearBottom();
      timeline.insert(message);
      if (keep) timeline.scrollToBottom();
    }
    if (typeof frame.client_id === "string") this.page.composer.settled(slug, frame.client_id);
  }

  onHistory(frame, tag) {
    return this.panel.onHistory(frame, tag);
  }

  onUpdated(message) {
    this.panel.onUpdated(message);
  }

  // message.deleted: true when the room's list keeps the message, as a deleted root
  // (it has replies: its thread stays readable, as a reload would show it).
  onDeleted(slug, frame) {
    this.panel.onDeleted(frame);
    const item = this.page.timelines.get(slug)?.byId.get(frame.id);
    const summary = summaryOf(frame.id);
    if (!item || !summary || summary.replies < 1) return false;
    const { id, seq, created_at } = item.message || {};
    const kept = deletedRootItem({ id, seq, created_at, deleted: true });
    item.className = kept.className;
    delete item.dataset.author;
    item.message = kept.message;
    item.replaceChildren(...kept.childNodes);
    showSummary(item, frame.id, summary);
    return true;
  }

  onReaction(frame) {
    if (this.panel.timeline) applyReaction(this.panel.timeline.list, frame, this.page.username());
  }

  // members: the answer to a members.search (the thread composer's @ completion).
  onMembers(frame) {
    this.picker.onMembers(frame);
  }

  onTyping(slug, frame) {
    if (typeof frame.user === "string") this.panel.typingStarted(slug, frame.thread, frame.user);
  }

  // thread.updated, thread.state, threads: true when the frame was one of them.
  onFrame(frame, tag) {
    switch (frame.type) {
      case "thread.updated": {
        if (typeof frame.room !== "string" || !Number.isInteger(frame.root)) return true;
        const summary = noteSummary(frame.root, frame.summary, true);
        const item = this.page.timelines.get(frame.room)?.byId.get(frame.root);
        if (item) showSummary(item, frame.root, summary);
        this.panel.onSummary(frame.root);
        this.view.onSummary(frame.room, frame.root);
        return true;
      }
      case "thread.state":
        this.states.apply(frame);
        this.states.setTotals(frame.threads);
        this.view.renderEntry();
        this.panel.renderHead();
        this.jump.render(); // the read pointer moved: fewer replies are new
        this.view.onState(frame);
        return true;
      case "threads":
        this.view.onThreads(frame, tag);
        return true;
      default:
        return false;
    }
  }

  // An error answering a threads frame: true when handled here (the room stays).
  onError(frame, tag, detail) {
    if (!tag) return false;
    if (tag.kind === "threads") {
      this.view.onFailed(tag);
      return true;
    }
    if (tag.kind === "thread") {
      this.page.showError(detail);
      return !DROPS_ROOM_ERRORS.has(frame.code);
    }
    if (tag.kind === "fetch" && tag.thread !== undefined) {
      this.panel.onFetchFailed(tag, RETRYABLE_ERRORS.has(frame.code));
      if (frame.code === ErrorCode.BAD_THREAD) return true;
      return !DROPS_ROOM_ERRORS.has(frame.code);
    }
    return false;
  }
}
