// The Filters panel and the dashboard's copy of the streamer's filters: loaded from
// GET /api/filters, saved with PUT /api/filters (the server's 400 sentence shown as it is), and
// replaced by `filters` frames when they change elsewhere (another tab, a "Block user" click).
// Whoever shows lines (the feed) subscribes with onFiltersChange and asks filterRules().
//
// SAFETY: names and words reach the page only as textarea values and textContent.

import { api } from './api.js';
import { EMPTY_FILTERS, FilterRules, normaliseFilters } from './filter-rules.js';

const $ = (id) => document.getElementById(id);

let current = normaliseFilters(EMPTY_FILTERS);
let rules = new FilterRules(current);
/** The form holds edits not saved yet: a change from elsewhere must not overwrite them. */
let dirty = false;
const listeners = [];

/** The rules of the streamer's current filters. */
export function filterRules() { return rules; }

/** Calls `fn()` whenever the filters change. */
export function onFiltersChange(fn) { listeners.push(fn); }

/** One entry per line (commas also separate user names, which cannot contain one). */
function entries(text, { commas }) {
  return text.split(commas ? /[\n,]/ : /\n/).map((s) => s.trim()).filter(Boolean);
}

function fillForm() {
  $('filter-blocked').value = current.blockedUsers.join('\n');
  $('filter-bots').value = current.bots.join('\n');
  $('filter-words').value = current.highlightWords.join('\n');
  $('filter-commands').checked = current.hideCommands;
}

function status(text, error = false) {
  const box = $('filters-status');
  box.textContent = text;
  box.classList.toggle('error', error);
}

/** Adopts filters from the server (a GET, a PUT's answer or a `filters` frame). */
function adopt(filters) {
  current = normaliseFilters(filters);
  rules = new FilterRules(current);
  if (dirty) {
    status('The filters were changed elsewhere; saving replaces them with what you see here.');
  } else {
    fillForm();
  }
  for (const fn of listeners) fn();
}

/** Applies a `{"type":"filters","filters":{…}}` frame. */
export function applyFiltersFrame(frame) {
  if (frame && frame.filters && typeof frame.filters === 'object') adopt(frame.filters);
}

/** Saves a whole filters object; returns what the server kept. Throws an ApiError with its sentence. */
async function save(filters) {
  const data = await api('/api/filters', { method: 'PUT', body: filters });
  const saved = data && data.filters ? data.filters : data;
  adopt(saved ?? filters);
  return current;
}

/** Adds `name` to (or removes it from) the blocked users and saves. */
export async function setUserBlocked(name, blocked) {
  const fold = (s) => String(s).trim().toLowerCase();
  const others = current.blockedUsers.filter((n) => fold(n) !== fold(name));
  return save({ ...current, blockedUsers: blocked ? [...others, String(name)] : others });
}

/** Wires the panel and loads the filters. */
export function initFilters() {
  const form = $('filters-form');
  form.addEventListener('input', () => { dirty = true; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const next = {
      blockedUsers: entries($('filter-blocked').value, { commas: true }),
      bots: entries($('filter-bots').value, { commas: true }),
      hideCommands: $('filter-commands').checked,
      highlightWords: entries($('filter-words').value, { commas: false }),
    };
    status('Saving…');
    try {
      dirty = false;
      await save(next);
      status('Saved. Overlays apply the filters at once.');
    } catch (err) {
      dirty = true;
      status(err.message, true);
    }
  });
  api('/api/filters')
    .then((data) => adopt(data))
    .catch((err) => status(err.message, true));
}
