// The live feed: ordered, deduplicated by id, bounded in size, auto-scrolling only while the reader
// is at the bottom. One line is rendered by message.js.

import { hideCleared, markDeleted, moderationHits, noteClearedLines, renderMessage } from './message.js';

/** How many recent ids the dedupe remembers. */
const SEEN_LIMIT = 20000;

/** How close to the bottom (px) still counts as "at the bottom". */
const STICKY_PX = 48;

/**
 * The live feed list. Keeps messages ordered by timestamp (arrival order breaks ties), drops
 * duplicates by id, keeps at most `limit` lines in the page.
 */
export class Feed {
  /**
   * @param {HTMLOListElement} list
   * @param {{pill: HTMLButtonElement, empty: HTMLElement, onChange?: (feed: Feed) => void, limit?: number,
   *          decorate?: (node: HTMLLIElement, m: object) => void}} opts
   *   decorate: called for each new line (and again through restyle()): filter marks, actions
   */
  constructor(list, { pill, empty, onChange, limit = 1000, decorate }) {
    this.list = list;
    this.pill = pill;
    this.empty = empty;
    this.onChange = onChange || (() => {});
    this.decorate = decorate || (() => {});
    this.limit = limit;
    /** @type {{id: string, ts: number, node: HTMLLIElement, m: object}[]} */
    this.items = [];
    /** Recently seen ids (also of lines already dropped from the page), oldest first. */
    this.seen = new Set();
    /** Ids deleted by a moderator (a delete may come before its message). */
    this.deleted = new Set();
    /** Messages added since the last clear. */
    this.total = 0;
    this.unread = 0;
    list.addEventListener('scroll', () => {
      if (this.atBottom()) this.hidePill();
    }, { passive: true });
    pill.addEventListener('click', () => {
      this.scrollToBottom();
      this.list.focus({ preventScroll: true });
    });
    this.refreshEmpty();
  }

  get size() { return this.total; }

  atBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight <= STICKY_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
    this.hidePill();
  }

  hidePill() {
    this.unread = 0;
    this.pill.hidden = true;
  }

  refreshEmpty() {
    this.empty.hidden = this.items.length > 0;
    this.list.hidden = this.items.length === 0;
  }

  has(id) { return this.seen.has(String(id)); }

  /**
   * Adds messages; returns how many were new.
   * @param {object[]} messages
   * @param {{fresh?: boolean}} [opts] fresh: highlight them briefly (live arrivals)
   */
  add(messages, { fresh = false } = {}) {
    const stick = this.items.length === 0 || this.atBottom();
    let added = 0;
    /** The new lines, for the notes of the timeouts/bans their transcript marks name. */
    const lines = [];
    for (const m of messages) {
      if (!m || m.id === undefined || m.id === null) continue;
      const id = String(m.id);
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      this.total += 1;
      // A replay starts after the last id we have, so only recent ids can come again: keep
      // enough of them for dedupe without growing for the whole stream.
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value);
      const node = renderMessage(m);
      if (this.deleted.has(id)) markDeleted(node);
      this.decorate(node, m);
      if (fresh) node.classList.add('fresh');
      const ts = Number(m.timestamp) || 0;
      // Usually appends; walks back only past messages with a later timestamp.
      let i = this.items.length;
      while (i > 0 && this.items[i - 1].ts > ts) i--;
      const before = this.items[i] ? this.items[i].node : null;
      this.list.insertBefore(node, before);
      this.items.splice(i, 0, { id, ts, node, m });
      lines.push({ node, m });
      added++;
    }
    if (added === 0) return 0;
    noteClearedLines(lines);
    while (this.items.length > this.limit) this.items.shift().node.remove();
    this.refreshEmpty();
    if (stick) {
      this.scrollToBottom();
    } else {
      this.unread += added;
      this.pill.textContent = `${this.unread} new message${this.unread === 1 ? '' : 's'} ↓`;
      this.pill.hidden = false;
    }
    this.onChange(this);
    return added;
  }

  /**
   * Applies a moderation frame: `chat:delete` strikes the lines through by id (also lines that
   * arrive later), `chat:clear_user` hides the user's earlier lines behind one note, `chat:clear`
   * strikes the channel's earlier lines through. Transcripts keep every line: this only marks
   * them, as the transcript's own marks do after a reload (message.js makes both).
   */
  moderate(frame) {
    if (frame.type === 'chat:delete') {
      for (const id of Array.isArray(frame.ids) ? frame.ids : []) this.deleted.add(String(id));
    }
    const hits = moderationHits(frame);
    const lines = this.items.filter((i) => hits(i.node, i.ts)).map((i) => i.node);
    if (frame.type === 'chat:clear_user') {
      // Lines an earlier timeout/ban hid are behind its note already (also when a rejoin's replay
      // repeats the frame of a timeout the reloaded transcript had marked).
      hideCleared(lines.filter((n) => !n.classList.contains('cleared')), {
        user: frame.user,
        until: frame.until,
        at: Number(frame.at) || Date.now(),
      });
    } else {
      const by = frame.type === 'chat:clear' ? 'clear' : 'delete';
      for (const n of lines) markDeleted(n, by);
    }
  }

  /** Calls `fn(node, message)` for every line in the page (e.g. after the filters changed). */
  restyle(fn = this.decorate) {
    for (const i of this.items) fn(i.node, i.m);
  }

  /** The line of a message id, if it is in the page. */
  line(id) {
    const item = this.items.find((i) => i.id === String(id));
    return item ? item.node : null;
  }

  clear() {
    this.items = [];
    this.seen.clear();
    this.total = 0;
    this.list.replaceChildren();
    this.hidePill();
    this.refreshEmpty();
    this.onChange(this);
  }
}
