// Rendering chat messages and keeping the live feed: ordered, deduplicated by id, bounded in size,
// auto-scrolling only while the reader is at the bottom.
//
// SAFETY: message fields are untrusted. They only ever reach the page through textContent and
// createElement, and a colour only through element.style.color after a strict #rrggbb check.

import { formatTime, toDate } from './format.js';

export const PLATFORMS = {
  twitch: { name: 'Twitch', mark: 'T' },
  youtube: { name: 'YouTube', mark: 'YT' },
  kick: { name: 'Kick', mark: 'K' },
};

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

function el(tag, className, text) {
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

  const body = el('span', 'body');
  for (const [flag, label, name] of [['isVip', 'VIP', 'vip'], ['isMod', 'MOD', 'mod'], ['isSub', 'SUB', 'sub']]) {
    if (m[flag] === true) {
      const badge = el('span', `badge badge-${name}`, label);
      badge.title = { vip: 'VIP', mod: 'Moderator', sub: 'Subscriber' }[name];
      body.append(badge);
    }
  }
  const user = el('span', 'user', String(m.user ?? ''));
  const colour = safeColour(m.color);
  if (colour) {
    user.style.color = colour;
    // Keep very dark names readable on the dark theme without changing their colour.
    if (luminance(colour) < 0.04) user.classList.add('low-contrast');
  }
  body.append(user, el('span', 'sep', ':'), el('span', 'text', String(m.text ?? '')));
  li.append(body);
  return li;
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
