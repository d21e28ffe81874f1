// Drafts: what is typed in the composer, kept per room and user in localStorage so it
// survives a room switch and a reload; cleared when sent. Pure apart from the storage
// handed in (tests/js/drafts.test.mjs).

export const DRAFT_PREFIX = "chat:draft:";
export const DRAFT_MAX_CHARS = 20000; // more than any body the server takes; a bound all the same

export class Drafts {
  // storage: a Web Storage (getItem, setItem, removeItem) or null (memory only).
  constructor(storage) {
    this.storage = storage;
    this.memory = new Map(); // when the storage refuses (private mode, full)
  }

  key(slug, username) {
    return `${DRAFT_PREFIX}${username}:${slug}`;
  }

  get(slug, username) {
    const key = this.key(slug, username);
    try {
      const stored = this.storage ? this.storage.getItem(key) : null;
      if (typeof stored === "string") return stored;
    } catch {
      // unreadable storage: the memory copy, if any
    }
    return this.memory.get(key) ?? "";
  }

  // Keep `text` as the room's draft; blank text removes it.
  set(slug, username, text) {
    if (!slug) return;
    const key = this.key(slug, username);
    const value = String(text ?? "").slice(0, DRAFT_MAX_CHARS);
    if (!value.trim()) {
      this.clear(slug, username);
      return;
    }
    this.memory.set(key, value);
    try {
      if (this.storage) this.storage.setItem(key, value);
    } catch {
      // full or refused: the memory copy lasts as long as the page
    }
  }

  clear(slug, username) {
    const key = this.key(slug, username);
    this.memory.delete(key);
    try {
      if (this.storage) this.storage.removeItem(key);
    } catch {
      // nothing to do
    }
  }
}
