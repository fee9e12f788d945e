// One chat message as a list item — shared by the dashboard's feed and transcript, the simulator's
// preview and the overlay —, the rule that says which lines a moderation frame hits, and the marks
// a moderation leaves on lines (the same from a live frame and from a transcript's `deletedBy`).
//
// SAFETY: message fields are untrusted. They only ever reach the page through textContent and
// createElement, and a colour only through element.style.color after a strict #rrggbb check.

import { formatTime, toDate } from './format.js';

// The UI's one list of platforms, in the order the pages show them: the name, the mark (a letter
// badge, readable without colour), the platform's colour and the mark's text colour on it (`ink`),
// the simulator's default chatter colour (`sample`) and the emote image URL. A new platform needs
// only an entry here: the simulator's tabs, the overlay's platform boxes and the Channels panel's
// options are built from it, and the stylesheets read the colours from the `--plat` / `--plat-ink`
// properties that `setPlatform` and `platformMark` put on an element (no per-platform CSS rule).
export const PLATFORMS = {
  twitch: {
    name: 'Twitch', mark: 'T', colour: '#9146ff', ink: '#fff', sample: '#a970ff',
    emote: (id) => `https://static-cdn.jtvnw.net/emoticons/v2/${encodeURIComponent(id)}/default/dark/1.0`,
  },
  youtube: { name: 'YouTube', mark: 'YT', colour: '#ff3d3d', ink: '#fff', sample: '#ffb020', emote: null },
  kick: {
    name: 'Kick', mark: 'K', colour: '#53fc18', ink: '#0b1a05', sample: '#53fc18',
    emote: (id) => `https://files.kick.com/emotes/${encodeURIComponent(id)}/fullsize`,
  },
};

/** Gives `node` the colours of platform `slug` (unknown: none) as `--plat` / `--plat-ink`. */
function paintPlatform(node, slug) {
  const p = slug ? PLATFORMS[slug] : null;
  if (!p) return;
  node.style.setProperty('--plat', p.colour);
  node.style.setProperty('--plat-ink', p.ink);
}

/** Marks `node` as platform `slug`'s: `data-platform` (selectors, filters, tests) and its colours. */
export function setPlatform(node, slug) {
  node.dataset.platform = slug || '';
  paintPlatform(node, slug);
}

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

/** The kinds a line can have; anything else renders as chat. */
const KINDS = ['chat', 'action', 'paid', 'membership', 'system'];

/** An element with a class and text (never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The slug (`twitch`) for a platform as messages spell it (`Twitch`, `YouTube`, `Kick`). */
export function platformSlug(platform) {
  const slug = String(platform || '').toLowerCase();
  return Object.hasOwn(PLATFORMS, slug) ? slug : null;
}

/** The message's kind if it is one the UI knows, else 'chat'. */
export function messageKind(m) {
  return KINDS.includes(m.kind) ? m.kind : 'chat';
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

/** The platform mark: a letter badge (readable without colour) named for assistive technology. */
export function platformMark(slug) {
  const p = PLATFORMS[slug];
  const mark = el('span', `plat plat-${slug || 'unknown'}`, p ? p.mark : '?');
  paintPlatform(mark, slug);
  const name = p ? p.name : 'Unknown platform';
  mark.title = name;
  mark.setAttribute('role', 'img');
  mark.setAttribute('aria-label', name);
  return mark;
}

/**
 * Splits the text into plain runs and emotes (code-point ranges, validated again here). With
 * `images` off, or for a platform without emote images, an emote is its name.
 */
function textWithEmotes(m, slug, images) {
  const text = String(m.text ?? '');
  const span = el('span', 'text');
  const emotes = Array.isArray(m.emotes) ? m.emotes : [];
  const cps = Array.from(text);
  const image = images && slug && PLATFORMS[slug] ? PLATFORMS[slug].emote : null;
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
    } else if (images) {
      span.append(el('span', 'emote-fallback', name));
    } else {
      span.append(document.createTextNode(name));
    }
    at = end;
  }
  if (at < cps.length) span.append(document.createTextNode(cps.slice(at).join('')));
  return span;
}

/** The badge names of a message: its `badges`, else the v1 flags; the owner first. */
function badgeNames(m) {
  const names = Array.isArray(m.badges) && m.badges.length > 0
    ? m.badges.map(String)
    : [['isVip', 'vip'], ['isMod', 'moderator'], ['isSub', 'subscriber']].filter(([f]) => m[f] === true).map(([, n]) => n);
  if (m.isOwner === true && !names.includes('broadcaster') && !names.includes('owner')) names.unshift('broadcaster');
  return names;
}

/**
 * One message line: time, platform mark, badges, user name in their colour, text.
 * @param {object} m a normalised ChatMessage
 * @param {{time?: boolean, badges?: boolean, emotes?: boolean}} [opts] what to show (all by default;
 *   the overlay leaves out the time and, on request, badges and emote images)
 */
export function renderMessage(m, { time = true, badges = true, emotes = true } = {}) {
  const slug = platformSlug(m.platform);
  const li = el('li', 'msg');
  li.dataset.id = String(m.id);
  if (slug) setPlatform(li, slug);

  if (time) {
    const date = toDate(m.timestamp);
    const stamp = el('time', 'ts', formatTime(m.timestamp));
    if (date) {
      stamp.dateTime = date.toISOString();
      stamp.title = date.toLocaleString();
    }
    li.append(stamp);
  }
  li.append(platformMark(slug));

  const kind = messageKind(m);
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
    body.append(el('span', 'amount', amountText(m)));
  }
  if (badges) {
    for (const name of badgeNames(m)) {
      if (!Object.hasOwn(BADGES, name)) continue;
      const [label, title] = BADGES[name];
      const badge = el('span', `badge badge-${name === 'moderator' ? 'mod' : name === 'subscriber' ? 'sub' : name}`, label);
      badge.title = title;
      badge.setAttribute('aria-label', title);
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
  body.append(user, el('span', 'sep', kind === 'action' ? '' : ':'), textWithEmotes(m, slug, emotes));
  if (kind === 'action') body.classList.add('action');
  li.append(body);
  if (m.deleted === true) markDeleted(li, m.deletedBy);
  return li;
}

/** A paid message's amount as people read it ("100 bits", "€5.00"). */
export function amountText(m) {
  const a = m.amount && typeof m.amount === 'object' ? m.amount : null;
  return a ? String(a.display ?? `${a.value} ${a.currency}`) : '';
}

/**
 * What a hidden line says, by the action that hid it (a transcript's `deletedBy`, a frame's type).
 * A timed-out or banned user's lines say nothing: one note speaks for them (hideCleared).
 */
const DELETED_NOTES = {
  delete: 'deleted by a moderator',
  clear: 'chat cleared by a moderator',
  clear_user: null,
};

/**
 * Marks a line a moderator hid: greyed and struck through with why (`delete`, also for an unknown
 * action; `clear`), or, for `clear_user`, taken out of view (its note is added by hideCleared).
 * A line keeps the first of these it got, except that a timeout/ban hides it whatever came before.
 * @param {HTMLElement} li
 * @param {string} [by] 'delete' | 'clear' | 'clear_user'
 */
export function markDeleted(li, by = 'delete') {
  if (by === 'clear_user') li.classList.add('cleared');
  if (li.classList.contains('deleted')) return;
  li.classList.add('deleted');
  const note = Object.hasOwn(DELETED_NOTES, by) ? DELETED_NOTES[by] : DELETED_NOTES.delete;
  if (note) (li.querySelector('.body') || li).append(el('span', 'deleted-note', note));
}

/** A timeout's length as people read it ("10 min", "2 h"). */
function minutes(ms) {
  const m = Math.round(ms / 60000);
  return m >= 60 ? `${Math.round(m / 60)} h` : `${Math.max(1, m)} min`;
}

/**
 * Hides the lines one timeout or ban hit behind one note after the last of them: "2 messages from
 * x hidden (timeout 10 min)" / "(banned)". The one place that note is made, for a live
 * `chat:clear_user` frame and for a transcript's marks alike.
 * @param {HTMLElement[]} nodes the lines, already in the page or a fragment
 * @param {{user: string, until?: number|null, at: number}} clear who, the timeout's end (none for
 *   a ban) and when it happened (ms)
 * @returns {HTMLLIElement|null} the note
 */
export function hideCleared(nodes, { user, until, at }) {
  if (nodes.length === 0) return null;
  for (const n of nodes) markDeleted(n, 'clear_user');
  const last = nodes.reduce((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? b : a));
  const why = until ? `timeout ${minutes(Number(until) - Number(at))}` : 'banned';
  const count = `${nodes.length} message${nodes.length === 1 ? '' : 's'}`;
  const note = el('li', 'msg cleared-note', `${count} from ${String(user ?? '')} hidden (${why})`);
  setPlatform(note, last.dataset.platform);
  last.after(note);
  return note;
}

/**
 * Adds the notes for a transcript's lines that a timeout or ban hid (`deletedBy: "clear_user"`):
 * the lines of one action (same platform, channel, user id, `deletedAt` and `clearedUntil`) share
 * one note after the last of them, as the live frame left them.
 * @param {{node: HTMLElement, m: object}[]} lines rendered messages
 */
export function noteClearedLines(lines) {
  const groups = new Map();
  for (const { node, m } of lines) {
    if (m.deleted !== true || m.deletedBy !== 'clear_user') continue;
    const key = JSON.stringify([m.platform, m.channel ?? '', m.userId ?? '', m.deletedAt, m.clearedUntil ?? null]);
    let g = groups.get(key);
    if (!g) {
      g = { nodes: [], user: m.user, until: m.clearedUntil, at: m.deletedAt };
      groups.set(key, g);
    }
    g.nodes.push(node);
  }
  for (const g of groups.values()) hideCleared(g.nodes, g);
}

/**
 * Which lines a moderation frame hits, as a predicate over a rendered line and its timestamp:
 * `chat:delete` names ids; `chat:clear_user` hits that user's earlier lines in the frame's
 * platform and channel; `chat:clear` hits all earlier lines there.
 * @param {object} frame a chat:delete, chat:clear_user or chat:clear frame
 * @returns {(node: HTMLElement, ts: number) => boolean}
 */
export function moderationHits(frame) {
  if (frame.type === 'chat:delete') {
    const ids = new Set((Array.isArray(frame.ids) ? frame.ids : []).map(String));
    return (node) => ids.has(node.dataset.id);
  }
  const plat = platformSlug(frame.platform);
  const channel = String(frame.channel ?? '');
  const at = Number(frame.at) || Date.now();
  const user = String(frame.userId ?? '');
  return (node, ts) => node.dataset.platform === plat
    && (node.dataset.channel ?? '') === channel
    && ts <= at
    && (frame.type === 'chat:clear' || node.dataset.userId === user);
}
