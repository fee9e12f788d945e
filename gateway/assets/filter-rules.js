// The streamer's chat filters as the dashboard and the overlay both apply them (GET/PUT
// /api/filters, `filters` frames): blocked users and bots by name, `!commands`, highlight words.
//
// Matching: a user name compares case-insensitively with `message.user` on any platform; a
// highlight word matches case-insensitively anywhere in `message.text`; a command is text whose
// first non-space character is `!`. Filters hide lines, they never delete them.

/** What a streamer has before saving any filters (the server sends its own defaults anyway). */
export const EMPTY_FILTERS = Object.freeze({ blockedUsers: [], bots: [], hideCommands: true, highlightWords: [] });

const strings = (list) => (Array.isArray(list) ? list.filter((s) => typeof s === 'string') : []);

/** A filters object with exactly the four fields, whatever the input held. */
export function normaliseFilters(f) {
  const src = f && typeof f === 'object' ? f : {};
  return {
    blockedUsers: strings(src.blockedUsers),
    bots: strings(src.bots),
    hideCommands: typeof src.hideCommands === 'boolean' ? src.hideCommands : true,
    highlightWords: strings(src.highlightWords),
  };
}

const fold = (s) => String(s ?? '').trim().toLowerCase();

/** True when the text is a chat command (`!uptime`). */
export function isCommand(text) {
  return /^\s*!/.test(String(text ?? ''));
}

/** Filters compiled for fast matching of many lines. */
export class FilterRules {
  /**
   * @param {object} filters the streamer's filters
   * @param {string[]} [extraBlocked] more names to treat as blocked (the overlay's `block`)
   */
  constructor(filters, extraBlocked = []) {
    const f = normaliseFilters(filters);
    this.filters = f;
    this.blocked = new Set([...f.blockedUsers, ...extraBlocked].map(fold).filter(Boolean));
    this.bots = new Set(f.bots.map(fold).filter(Boolean));
    this.words = f.highlightWords.map(fold).filter(Boolean);
  }

  /** The author is on the blocked list. */
  isBlocked(m) { return this.blocked.has(fold(m.user)); }

  /** The author is on the bot list. */
  isBot(m) { return this.bots.has(fold(m.user)); }

  /** The first highlight word in the message's text, or null. */
  highlight(m) {
    const text = String(m.text ?? '').toLowerCase();
    return this.words.find((w) => text.includes(w)) ?? null;
  }
}
