// Routes each frame of the socket (after hello) to the parts it concerns: timelines,
// the store's counts, presence, the composer, navigation and the error line.

import { DROPS_ROOM_ERRORS, ErrorCode, RETRYABLE_ERRORS } from "./codes.js";
import { showEphemeral } from "./ephemeral.js";
import { applyReaction } from "./reactions.js";
import { LEFT_NOTICES, NO_ACCESS_TEXT } from "./roomview.js";
import { routeOf } from "./threadstate.js";

const ANNOUNCED_KEPT = 3; // lines kept in the live region

const NOTIFY_MAX_AGE_MS = 5 * 60e3; // a resumed backlog's older messages draw no attention

// parts: store, profiles, timelines, presence, composer, nav, view, reading, username()
// -> string, roomEl, announcer (the live region), notifier, picker, threads (threadparts.js:
// replies kept in their thread never reach the room's list). Returns onFrame(frame, tag).
export function frameRouter(parts) {
  const { store, profiles, timelines, presence, composer, nav, view, reading, username, roomEl, announcer } = parts;
  const { notifier, picker, threads } = parts;

  function announce(message) {
    const line = document.createElement("p");
    line.textContent =
      message.kind === "system" ? `Announcement: ${message.body}` : `${profiles.name(message.author)}: ${message.body}`;
    announcer.append(line);
    while (announcer.childElementCount > ANNOUNCED_KEPT) announcer.firstElementChild.remove();
  }

  function roomOf(frame) {
    if (typeof frame.room === "string") return frame.room;
    if (frame.message && typeof frame.message.room === "string") return frame.message.room;
    return null;
  }

  function onFrame(frame, tag) {
    const slug = roomOf(frame);
    const room = slug !== null ? store.get(slug) : undefined;
    const timeline = slug !== null ? timelines.get(slug) : undefined;
    switch (frame.type) {
      case "message": {
        const message = frame.message;
        if (!message || !Number.isInteger(message.seq)) break;
        profiles.fromMessage(message);
        const route = routeOf(message);
        const inPanel = route.thread !== null && threads.onMessage(slug, message);
        if (inPanel && message.author !== username()) announce(message);
        if (!route.room) {
          if (timeline) timeline.paging.passOver(message.seq); // the stream's cursor moves on
          break;
        }
        if (timeline) timeline.live(message);
        store.countMessage(slug, message);
        if (room && typeof message.author === "string") presence.typingStopped(room, message.author);
        if (slug === nav.current && message.author !== username()) announce(message);
        if (Date.now() - Date.parse(message.created_at) < NOTIFY_MAX_AGE_MS) notifier.onMessage(slug, message);
        break;
      }
      case "ack": {
        profiles.fromMessage(frame.message);
        const route = routeOf(frame.message);
        if (route.thread !== null) threads.onAck(slug, frame);
        if (!route.room) {
          composer.pump();
          break;
        }
        if (timeline) {
          const keep = timeline.nearBottom();
          timeline.insert(frame.message);
          if (keep) timeline.scrollToBottom();
        } else if (slug && frame.message) {
          composer.settled(slug, frame.client_id);
        }
        composer.pump();
        break;
      }
      case "history": {
        if (threads.onHistory(frame, tag)) break; // a thread's replies (threadpanel.js)
        const target = tag && tag.room ? timelines.get(tag.room) : timeline;
        if (!target || !tag) break;
        const messages = Array.isArray(frame.messages) ? frame.messages : [];
        messages.forEach((message) => profiles.fromMessage(message));
        const fresh = target.onHistory(messages, tag);
        if (fresh && target.slug === nav.current) {
          const shown = store.get(nav.current);
          const marked =
            shown && shown.joined && shown.unread() > 0 && target.placeMarker(target.openedRead ?? shown.readSeq);
          if (!marked) target.clearMarker();
          target.scrollForOpen();
          target.maybeLoadOlder();
          roomEl.dataset.loaded = "true";
          reading.soon(nav.current);
        }
        break;
      }
      case "message.updated":
        profiles.fromMessage(frame.message);
        if (timeline) timeline.update(frame.message);
        threads.onUpdated(frame.message);
        store.recountUpdated(slug, frame.message);
        break;
      case "message.deleted":
        if (threads.onDeleted(slug, frame)) {
          // a root with replies stays, as deleted (threadparts.js)
        } else if (timeline) timeline.remove(frame.id, frame.seq);
        else timelines.forEach((t) => t.remove(frame.id, frame.seq));
        store.uncountDeleted(slug, frame.id);
        break;
      case "room.trimmed": // retention: the room's history now begins at `before`
        if (timeline && Number.isInteger(frame.before)) timeline.trim(frame.before);
        break;
      case "reaction":
        if (timeline) applyReaction(timeline.list, frame, username());
        threads.onReaction(frame);
        break;
      case "presence":
        if (room) presence.applyPresence(room, frame);
        break;
      case "typing": // in a thread: shown in its panel only; else in the room only
        if (Number.isInteger(frame.thread)) threads.onTyping(slug, frame);
        else if (room && typeof frame.user === "string") presence.typingStarted(room, frame.user);
        break;
      case "online":
        if (room) presence.setOnline(room, frame);
        break;
      case "room.read":
        store.applyRead(frame);
        break;
      case "room.notify":
        store.applyLevel(frame);
        break;
      case "notify.prefs":
        notifier.setPrefs(frame);
        break;
      case "members":
        picker.onMembers(frame);
        threads.onMembers(frame); // only the picker completing that prefix shows it
        break;
      case "user.updated":
        profiles.put(frame.user);
        break;
      case "room.joined":
        nav.onJoined(frame.room);
        break;
      case "room.watching":
        nav.onWatching(frame.room);
        break;
      case "room.updated": // a new topic (/topic): the header shows it at once
        if (room && typeof frame.topic === "string") {
          room.topic = frame.topic;
          view.render();
        }
        break;
      case "room.left":
        nav.onLeft(slug, typeof frame.reason === "string" ? frame.reason : "left");
        break;
      case "ephemeral": // a slash command's answer, for this user alone
        if (timeline) showEphemeral(timeline, frame); // a room not drawn here has no place for it
        break;
      case "error":
        onError(frame, tag, slug);
        break;
      default:
        threads.onFrame(frame, tag); // thread.updated, thread.state, threads
    }
  }

  function onError(frame, tag, slug) {
    const detail = typeof frame.detail === "string" ? frame.detail : String(frame.code);
    const about = (tag && tag.room) || slug;
    const access = DROPS_ROOM_ERRORS.has(frame.code); // no access any more, or the room is gone
    if (threads.onError(frame, tag, detail)) return;
    if (tag && tag.kind === "send") {
      composer.onSendError(tag, frame, detail);
    } else if (tag && (tag.kind === "edit" || tag.kind === "delete")) {
      timelines.forEach((t) => t.changeFailed(tag));
    } else if (tag && tag.kind === "fetch") {
      const target = timelines.get(tag.room);
      if (target) target.onFetchFailed(tag, RETRYABLE_ERRORS.has(frame.code));
    } else if (tag && tag.kind === "watch" && nav.watching === tag.room) {
      nav.watching = null;
    }
    if (access && about) {
      // This room is out of reach now (a ban, a removal, a deletion): the socket stays
      // open for the others.
      const room = store.get(about);
      if (room) {
        room.joined = false;
        room.lost = frame.code === ErrorCode.BANNED ? "banned" : frame.code;
      }
      const timeline = timelines.get(about);
      if (timeline) timeline.freeze();
      composer.failAll(about, NO_ACCESS_TEXT);
      store.changed();
      if (about === nav.current) {
        view.showError(frame.code === ErrorCode.ROOM_NOT_FOUND ? LEFT_NOTICES.room_not_found : NO_ACCESS_TEXT);
        view.render();
      }
      return;
    }
    if (!about || about === nav.current) view.showError(detail);
  }

  return onFrame;
}
