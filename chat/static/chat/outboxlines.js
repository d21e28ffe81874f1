// The outbox's lines at the bottom of a timeline: pending ("sending…"), failed ("not
// sent", why, Retry and Dismiss) and uploads. They group with the saved messages above
// them like any message (listdecor.js). Renders only; a retry goes through the page's
// `requests.retry`.

import { decorate, nextMessage } from "./listdecor.js";
import { markItemFailed, pendingItem, uploadItem } from "./message.js";

export class OutboxLines {
  constructor(timeline) {
    this.t = timeline;
    this.els = new Map(); // client_id -> <li> (pending or failed)
  }

  // A saved message from this user settles its outbox entry, however it arrived.
  settle(message) {
    const t = this.t;
    if (message.author !== t.requests.username() || typeof message.client_id !== "string") return;
    const item = this.els.get(message.client_id);
    if (item) this.drop(message.client_id, item);
    t.requests.settled(t.slug, message.client_id);
  }

  drop(clientId, item) {
    const below = nextMessage(item);
    item.remove();
    if (this.els.get(clientId) === item) this.els.delete(clientId);
    if (below) decorate(below);
  }

  showPending(entry) {
    if (this.els.has(entry.client_id)) return;
    const username = this.t.requests.username();
    const item = pendingItem(entry, username, this.t.requests.profile(username));
    this.t.list.append(item);
    this.els.set(entry.client_id, item);
    decorate(item);
  }

  markFailed(clientId, detail) {
    const item = this.els.get(clientId);
    if (!item || item.classList.contains("failed")) return;
    const entry = item.outboxEntry;
    const { requests, slug } = this.t;
    const retry =
      entry && requests.retry
        ? () => {
            this.drop(clientId, item);
            requests.retry(slug, entry); // the same client_id: never saved twice
          }
        : null;
    markItemFailed(item, detail, () => this.drop(clientId, item), retry);
  }

  showUpload(name) {
    const username = this.t.requests.username();
    const item = uploadItem(name, username, this.t.requests.profile(username));
    this.t.list.append(item);
    decorate(item);
    return () => this.drop(null, item);
  }

  // The saved messages above were cleared: the lines group again.
  redecorate() {
    for (const item of this.els.values()) decorate(item);
  }
}
