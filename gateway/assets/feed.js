// Rendering chat messages and keeping the live feed: ordered, deduplicated by id, bounded in size,
// auto-scrolling only while the reader is at the bottom.
//
// SAFETY: message fields are untrusted. They only ever reach the page through textContent and
// createElement, and a colour only through element.style.color after a strict #rrggbb check.

import { formatTime, toDate } from './format.js';

// The UI's one list of platforms (name, mark, emote image URL); colours are in app.css by slug.
export const PLATFORMS = {
  twitch: { name: 'Twitch', mark: 'T', emote: (id) => `https://static-cdn.jtvnw.net/emoticons/v2/${encodeURIComponent(id)}/default/dark/1.0` },
  youtube: { name: 'YouTube', mark: 'YT', emote: null },
  kick: { name: 'Kick', mark: 'K', emote: (id) => `https://files.kick.com/emotes/${encodeURIComponent(id)}/fullsize` },
};

/** Badge names the UI shows as marks (others are ignored), with their label and title. */
const BADGES = {
  broadcaster: ['★', 'Broadcaster'],
  owner: ['★', 'Channel owner'],
  moderator: ['MOD', 'Moderator'],
  vip: ['VIP', 'VIP'],
  subscriber: ['SUB', 'Subscriber'],
  founder: ['FND', 'Founder'],
  member: ['MEM', 'Member'],
  verified: ['✓', 'Verified'],
  og: ['OG', 'OG'],
};

/** Splits the text into plain runs and emotes (code-point ranges, validated again here). */
function textWithEmotes(m, slug) {
  const text = String(m.text ?? '');
  const span = el('span', 'text');
  const emotes = Array.isArray(m.emotes) ? m.emotes : [];
  const cps = Array.from(text);
  const image = slug && PLATFORMS[slug] ? PLATFORMS[slug].emote : null;
  let at = 0;
  for (const e of [...emotes].sort((a, b) => a.start - b.start)) {
    const start = Number(e.start);
    const end = Number(e.end);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < at || end <= start || end > cps.length) continue;
    if (start > at) span.append(document.createTextNode(cps.slice(at, start).join('')));
    const name = cps.slice(start, end).join('');
    if (image) {
      const img = document.createElement('img');
      img.className = 'emote';
      img.alt = name;
      img.title = name;
      img.loading = 'lazy';
      img.decoding = 'async';
      // Offline or blocked: the emote's name stays readable in its place.
      img.addEventListener('error', () => img.replaceWith(el('span', 'emote-fallback', name)), { once: true });
      img.src = image(String(e.id));
      span.append(img);
    } else {
      span.append(el('span', 'emote-fallback', name));
    }
    at = end;
  }
  if (at < cps.length) span.append(document.createTextNode(cps.slice(at).join('')));
  return span;
}

/** The slug (`twitch`) for a platform as messages spell it (`Twitch`, `YouTube`, `Kick`). */
export function platformSlug(platform) {
  const slug = String(platform || '').toLowerCase();
  return Object.hasOwn(PLATFORMS, slug) ? slug : null;
}

const COLOUR = /^#[0-9a-f]{6}$/;

/** The colour if it is exactly lower-case #rrggbb (what the ingest validates), else null. */
export function safeColour(value) {
  return typeof value === 'string' && COLOUR.test(value) ? value : null;
}

function luminance(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** An element with a class and text (never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The platform mark: a letter badge (readable without colour) named for assistive technology. */
export function platformMark(slug) {
  const p = PLATFORMS[slug];
  const mark = el('span', `plat plat-${slug || 'unknown'}`, p ? p.mark : '?');
  const name = p ? p.name : 'Unknown platform';
  mark.title = name;
  mark.setAttribute('role', 'img');
  mark.setAttribute('aria-label', name);
  return mark;
}

/**
 * One message line: time, platform mark, badges, user name in their colour, text.
 * @param {object} m a normalised ChatMessage
 */
export function renderMessage(m) {
  const slug = platformSlug(m.platform);
  const li = el('li', 'msg');
  li.dataset.id = String(m.id);
  if (slug) li.dataset.platform = slug;

  const date = toDate(m.timestamp);
  const time = el('time', 'ts', formatTime(m.timestamp));
  if (date) {
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
  }
  li.append(time, platformMark(slug));

  const kind = ['chat', 'action', 'paid', 'membership', 'system'].includes(m.kind) ? m.kind : 'chat';
  li.classList.add(`kind-${kind}`);
  if (m.channel) li.dataset.channel = String(m.channel);
  if (m.userId) li.dataset.userId = String(m.userId);
  const body = el('span', 'body');
  if (m.replyTo && typeof m.replyTo === 'object') {
    body.append(el('span', 'reply', `↪ @${String(m.replyTo.user ?? '')}: ${String(m.replyTo.text ?? '')}`));
  }
  if ((kind === 'membership' || kind === 'system') && m.systemText) {
    body.append(el('span', 'system-text', String(m.systemText)));
  }
  if (kind === 'paid' && m.amount && typeof m.amount === 'object') {
    body.append(el('span', 'amount', String(m.amount.display ?? `${m.amount.value} ${m.amount.currency}`)));
  }
  const names = Array.isArray(m.badges) && m.badges.length > 0
    ? m.badges.map(String)
    : [['isVip', 'vip'], ['isMod', 'moderator'], ['isSub', 'subscriber']].filter(([f]) => m[f] === true).map(([, n]) => n);
  if (m.isOwner === true && !names.includes('broadcaster') && !names.includes('owner')) names.unshift('broadcaster');
  for (const name of names) {
    if (!Object.hasOwn(BADGES, name)) continue;
    const [label, title] = BADGES[name];
    const badge = el('span', `badge badge-${name === 'moderator' ? 'mod' : name === 'subscriber' ? 'sub' : name}`, label);
    badge.title = title;
    badge.setAttribute('aria-label', title);
    body.append(badge);
  }
  const user = el('span', 'user', String(m.user ?? ''));
  const colour = safeColour(m.color);
  if (colour) {
    user.style.color = colour;
    // Keep very dark names readable on the dark theme without changing their colour.
    if (luminance(colour) < 0.04) user.classList.add('low-contrast');
  }
  body.append(user, el('span', 'sep', kind === 'action' ? '' : ':'), textWithEmotes(m, slug));
  if (kind === 'action') body.classList.add('action');
  li.append(body);
  if (m.deleted === true) markDeleted(li);
  return li;
}

/** Greys a line and strikes it through, saying why. */
export function markDeleted(li) {
  if (li.classList.contains('deleted')) return;
  li.classList.add('deleted');
  (li.querySelector('.body') || li).append(el('span', 'deleted-note', 'deleted by a moderator'));
}

function minutes(ms) {
  const m = Math.round(ms / 60000);
  return m >= 60 ? `${Math.round(m / 60)} h` : `${Math.max(1, m)} min`;
}

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
   * @param {{pill: HTMLButtonElement, empty: HTMLElement, onChange?: (feed: Feed) => void, limit?: number}} opts
   */
  constructor(list, { pill, empty, onChange, limit = 1000 }) {
    this.list = list;
    this.pill = pill;
    this.empty = empty;
    this.onChange = onChange || (() => {});
    this.limit = limit;
    /** @type {{id: string, ts: number, node: HTMLLIElement}[]} */
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
      if (fresh) node.classList.add('fresh');
      const ts = Number(m.timestamp) || 0;
      // Usually appends; walks back only past messages with a later timestamp.
      let i = this.items.length;
      while (i > 0 && this.items[i - 1].ts > ts) i--;
      const before = this.items[i] ? this.items[i].node : null;
      this.list.insertBefore(node, before);
      this.items.splice(i, 0, { id, ts, node });
      added++;
    }
    if (added === 0) return 0;
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
   * Applies a moderation frame: `chat:delete` greys the lines by id (also lines that arrive
   * later), `chat:clear_user` hides the user's earlier lines behind one note, `chat:clear`
   * greys the channel's earlier lines. Transcripts keep every line: this only marks them.
   */
  moderate(frame) {
    const plat = platformSlug(frame.platform);
    const channel = String(frame.channel ?? '');
    const at = Number(frame.at) || Date.now();
    if (frame.type === 'chat:delete') {
      for (const id of Array.isArray(frame.ids) ? frame.ids : []) {
        this.deleted.add(String(id));
        const item = this.items.find((i) => i.id === String(id));
        if (item) markDeleted(item.node);
      }
      return;
    }
    const hit = (i) => i.node.dataset.platform === plat
      && (i.node.dataset.channel ?? '') === channel
      && i.ts <= at
      && (frame.type === 'chat:clear' || i.node.dataset.userId === String(frame.userId ?? ''));
    const lines = this.items.filter(hit);
    for (const i of lines) markDeleted(i.node);
    if (frame.type === 'chat:clear_user' && lines.length > 0) {
      for (const i of lines) i.node.classList.add('cleared');
      const why = frame.until ? `timeout ${minutes(Number(frame.until) - at)}` : 'banned';
      const note = el('li', 'msg cleared-note',
        `${lines.length} message${lines.length === 1 ? '' : 's'} from ${String(frame.user ?? '')} hidden (${why})`);
      note.dataset.platform = plat || '';
      const last = lines[lines.length - 1].node;
      last.after(note);
    }
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
