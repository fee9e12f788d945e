// The overlay's URL: its options as query parameters (non-secret) and its key in the fragment
// (never sent in a request). Read by the overlay page, built by the dashboard's Overlay panel.
//
// /overlay?limit=50&fade=0&platforms=twitch,kick&hideCommands=1&hideBots=1&block=a,b&badges=1
//         &emotes=1&size=20&align=bottom&theme=dark&tts=off#key=<key>

import { PLATFORMS } from './message.js';

/** The defaults; `hideCommands: null` means "the streamer's filter setting", `platforms: []` all. */
export const OVERLAY_DEFAULTS = Object.freeze({
  limit: 50,
  fade: 0,
  platforms: [],
  hideCommands: null,
  hideBots: true,
  block: [],
  badges: true,
  emotes: true,
  size: 20,
  align: 'bottom',
  theme: 'dark',
  tts: 'off',
});

export const ALIGNS = ['bottom', 'top'];
export const THEMES = ['dark', 'light', 'outline'];
export const TTS_MODES = ['off', 'all', 'paid'];

/** Bounds of the numeric options (a value outside is clamped). */
export const BOUNDS = Object.freeze({ limit: [1, 500], fade: [0, 3600], size: [8, 120] });

/** The most extra names `block` takes, and their longest. */
const BLOCK_MAX = 200;
const NAME_MAX = 64;

function flag(value, fallback) {
  if (value === null) return fallback;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return fallback;
}

function number(value, [min, max], fallback) {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function oneOf(value, allowed, fallback) {
  const v = (value ?? '').trim().toLowerCase();
  return allowed.includes(v) ? v : fallback;
}

/** A comma-separated list: trimmed, empty entries dropped. */
function list(value) {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The options of a query string (`location.search`); anything missing or invalid is the default.
 * @param {string} search
 */
export function parseOverlayOptions(search) {
  const q = new URLSearchParams(search);
  const d = OVERLAY_DEFAULTS;
  const platforms = list(q.get('platforms')).map((s) => s.toLowerCase()).filter((s) => Object.hasOwn(PLATFORMS, s));
  return {
    limit: Math.round(number(q.get('limit'), BOUNDS.limit, d.limit)),
    fade: number(q.get('fade'), BOUNDS.fade, d.fade),
    platforms: [...new Set(platforms)],
    hideCommands: flag(q.get('hideCommands'), d.hideCommands),
    hideBots: flag(q.get('hideBots'), d.hideBots),
    block: list(q.get('block')).filter((n) => n.length <= NAME_MAX).slice(0, BLOCK_MAX),
    badges: flag(q.get('badges'), d.badges),
    emotes: flag(q.get('emotes'), d.emotes),
    size: number(q.get('size'), BOUNDS.size, d.size),
    align: oneOf(q.get('align'), ALIGNS, d.align),
    theme: oneOf(q.get('theme'), THEMES, d.theme),
    tts: oneOf(q.get('tts'), TTS_MODES, d.tts),
  };
}

/** The query string (without `?`) for the options that differ from the defaults. */
export function overlayQuery(options) {
  const o = { ...OVERLAY_DEFAULTS, ...options };
  const d = OVERLAY_DEFAULTS;
  const q = new URLSearchParams();
  if (o.limit !== d.limit) q.set('limit', String(o.limit));
  if (o.fade !== d.fade) q.set('fade', String(o.fade));
  const platforms = o.platforms.filter((p) => Object.hasOwn(PLATFORMS, p));
  if (platforms.length > 0 && platforms.length < Object.keys(PLATFORMS).length) q.set('platforms', platforms.join(','));
  if (o.hideCommands !== null) q.set('hideCommands', o.hideCommands ? '1' : '0');
  if (o.hideBots !== d.hideBots) q.set('hideBots', o.hideBots ? '1' : '0');
  if (o.block.length > 0) q.set('block', o.block.join(','));
  if (o.badges !== d.badges) q.set('badges', o.badges ? '1' : '0');
  if (o.emotes !== d.emotes) q.set('emotes', o.emotes ? '1' : '0');
  if (o.size !== d.size) q.set('size', String(o.size));
  if (o.align !== d.align) q.set('align', o.align);
  if (o.theme !== d.theme) q.set('theme', o.theme);
  if (o.tts !== d.tts) q.set('tts', o.tts);
  // URLSearchParams writes ',' as %2C; the lists read better with plain commas.
  return q.toString().replaceAll('%2C', ',');
}

/**
 * The full overlay URL.
 * @param {string} origin e.g. location.origin
 * @param {object} options
 * @param {string} key the overlay key (goes into the fragment only)
 */
export function overlayUrl(origin, options, key) {
  const query = overlayQuery(options);
  return `${origin}/overlay${query ? `?${query}` : ''}#key=${encodeURIComponent(key)}`;
}

/** The key from a fragment such as `#key=abc…`, or null. */
export function keyFromHash(hash) {
  const key = new URLSearchParams(String(hash || '').replace(/^#/, '')).get('key');
  return key && key.trim() ? key.trim() : null;
}
