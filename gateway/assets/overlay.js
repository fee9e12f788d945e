// The overlay page (/overlay#key=…), an OBS browser source: the streamer's live chat on a
// transparent page. Its options come from the query string (overlay-options.js), its key from the
// fragment, which no request carries: the page hands the key to the WebSocket in its join frame.
//
// It reconnects like the dashboard (backoff, `since`, dedupe by id — a line never shows twice),
// except that it never gives up, and it stops for good when the server closes with 4001 (not a
// valid link) or 4003 (revoked), showing the server's sentence. Moderation, "hide on overlay" and
// filter changes apply at once; `fade` and `limit` bound what stays on screen; `tts` speaks
// shown lines (all, or only paid and membership ones) through the browser's speechSynthesis.
//
// SAFETY: message fields reach the page only through message.js (textContent, createElement).

import { Connection } from './connection.js';
import { FilterRules, isCommand } from './filter-rules.js';
import { amountText, messageKind, moderationHits, platformSlug, renderMessage } from './message.js';
import { keyFromHash, parseOverlayOptions } from './overlay-options.js';
import { OverlayLines } from './overlay-lines.js';

/** Close codes after which the link opens nothing: reconnecting cannot help. */
const FINAL = {
  4001: 'This overlay link is not valid; create a new one in the dashboard',
  4003: 'This overlay link was revoked',
};
/** How many recent ids the dedupe (and the deleted / hidden marks) remember. */
const REMEMBER = 5000;
/** Utterances queued at most; lines beyond that are not spoken (chat outpaces any voice). */
const TTS_QUEUE = 10;

const options = parseOverlayOptions(location.search);
const key = keyFromHash(location.hash);
const list = document.getElementById('lines');
const notice = document.getElementById('overlay-notice');
const lines = new OverlayLines(list, options);
let rules = new FilterRules(null, options.block);
/** Id of the newest message received (shown or not): the `since` of a rejoin. */
let lastId = null;
let conn = null;
let speaking = 0;

/** An insertion-ordered set that forgets its oldest entries beyond REMEMBER. */
class RecentIds {
  constructor() { this.ids = new Set(); }
  has(id) { return this.ids.has(String(id)); }
  add(id) {
    this.ids.add(String(id));
    if (this.ids.size > REMEMBER) this.ids.delete(this.ids.values().next().value);
  }
}
const seen = new RecentIds();
const deleted = new RecentIds();
const hidden = new RecentIds();

/** Whether a message passes this overlay's options and the streamer's filters. */
function visible(m) {
  const id = String(m.id);
  if (m.deleted === true || deleted.has(id) || hidden.has(id)) return false;
  if (options.platforms.length > 0 && !options.platforms.includes(platformSlug(m.platform))) return false;
  if (rules.isBlocked(m)) return false;
  if (options.hideBots && rules.isBot(m)) return false;
  const hideCommands = options.hideCommands ?? rules.filters.hideCommands;
  return !(hideCommands && isCommand(m.text));
}

/** What the voice says for a line. */
function spokenText(m) {
  const user = String(m.user ?? '');
  const text = String(m.text ?? '');
  const kind = messageKind(m);
  if (kind === 'paid') return `${user} sent ${amountText(m)}. ${text}`.trim();
  if (kind === 'membership' && m.systemText) return `${String(m.systemText)} ${text}`.trim();
  if (kind === 'action') return `${user} ${text}`;
  return `${user}: ${text}`;
}

function speak(m) {
  if (options.tts === 'off') return;
  const kind = messageKind(m);
  if (options.tts === 'paid' && kind !== 'paid' && kind !== 'membership') return;
  // OBS's browser and some kiosks have no speech synthesis: then the overlay stays silent.
  if (!window.speechSynthesis || typeof window.SpeechSynthesisUtterance !== 'function') return;
  if (speaking >= TTS_QUEUE) return;
  const utterance = new SpeechSynthesisUtterance(spokenText(m));
  const done = () => { speaking = Math.max(0, speaking - 1); };
  utterance.addEventListener('end', done);
  utterance.addEventListener('error', done);
  speaking += 1;
  try {
    window.speechSynthesis.speak(utterance);
  } catch {
    done();
  }
}

function onMessage(m) {
  if (!m || m.id === undefined || m.id === null) return;
  const id = String(m.id);
  if (seen.has(id)) return;
  seen.add(id);
  lastId = id;
  if (!visible(m)) return;
  const node = renderMessage(m, { time: false, badges: options.badges, emotes: options.emotes });
  lines.add(m, node);
  speak(m);
}

function onFrame(frame) {
  if (!frame || typeof frame.type !== 'string') return;
  switch (frame.type) {
    case 'joined':
      conn.joined();
      break;
    case 'filters':
      rules = new FilterRules(frame.filters, options.block);
      lines.removeWhere((node, m) => !visible(m));
      break;
    case 'chat:message':
      onMessage(frame.message);
      break;
    case 'chat:delete':
    case 'chat:clear_user':
    case 'chat:clear': {
      if (frame.type === 'chat:delete' && Array.isArray(frame.ids)) frame.ids.forEach((id) => deleted.add(id));
      const hits = moderationHits(frame);
      lines.removeWhere((node, m, ts) => hits(node, ts));
      break;
    }
    case 'overlay:hide':
      hidden.add(frame.id);
      lines.remove(frame.id);
      break;
    default:
      // stream, channel:status, error: nothing to show on stream.
      break;
  }
}

/** Shows a sentence in place of the chat: the link opens nothing (any more). */
function endWith(sentence) {
  lines.clear();
  notice.textContent = sentence;
  notice.hidden = false;
}

function onState(state) {
  // For people inspecting the page (and the tests): connecting, live, reconnecting, ended.
  document.body.dataset.state = state.kind;
  if (state.kind === 'ended') endWith(state.reason || FINAL[state.code] || 'This overlay link opens nothing.');
}

function main() {
  document.body.classList.add(`theme-${options.theme}`, `align-${options.align}`);
  // CSSOM, which the CSP allows (a style attribute in the markup it would not).
  list.style.fontSize = `${options.size}px`;
  if (!key) {
    document.body.dataset.state = 'ended';
    endWith('This overlay link has no key: copy the whole link from the Overlay panel of your CrossChat dashboard.');
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  conn = new Connection({
    url: `${scheme}//${location.host}/api/overlay/socket`,
    onOpen: () => {
      const join = { type: 'join', key };
      if (lastId !== null) join.since = lastId;
      conn.send(join);
    },
    onFrame,
    onState,
    maxTries: Infinity,
    finalCodes: Object.keys(FINAL).map(Number),
  });
  conn.start();
}

main();
