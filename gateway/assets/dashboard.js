// The dashboard: live feed over the WebSocket, connection state, stream controls, history, the
// simulator and the Channels, Overlay and Filters panels. Without a session it sends the browser to /login (checked here, client-side, through
// GET /api/auth/me).

import { api, ApiError, currentUser, withRetryHint } from './api.js';
import { Connection } from './connection.js';
import { Feed } from './feed.js';
import { formatDateTime, formatDuration, formatTime, plural, toDate } from './format.js';
import { isActive, messagesFrom, renderSessions, sessionsFrom, showTranscript } from './history.js';
import { initSimulator } from './simulator.js';
import { channelStatus, initChannels } from './channels.js';
import { applyFiltersFrame, initFilters, onFiltersChange } from './filters.js';
import { initOverlays } from './overlays.js';
import { decorateLine, overlayHidden } from './feed-marks.js';
import { alertInPage, showAccount } from './topbar.js';

const $ = (id) => document.getElementById(id);

/** How many messages of the active log to show on load (the server's default is its newest 500). */
const LIVE_LIMIT = 500;

let me = null;
/** The running stream session, or null. */
let active = null;
/** The last session this page saw end (for "Last stream: …"). */
let lastEnded = null;
/** Id of the newest message received in the server's log order: the `since` of a rejoin. */
let lastId = null;
/** Bumped by every reload of the live feed, so a slow, stale reload is dropped. */
let liveGeneration = 0;
let liveLoaded = false;
let conn = null;
let feed = null;
let countdownTimer = null;
let lastSessionCheck = 0;
/** The live session's message count as the server last reported it (its whole active log)… */
let serverCount = 0;
/** …plus the live messages that arrived since. */
let addedSinceCount = 0;
/** Set after the first successful open: later opens are reconnects. */
let everOpened = false;

function toLogin(reason) {
  location.replace(reason ? `/login?${reason}=1` : '/login');
}

/** A 401 in the middle of things means the session ended (logout elsewhere, expiry). */
function handleAuthLoss(err) {
  if (err instanceof ApiError && err.status === 401) {
    toLogin('expired');
    return true;
  }
  return false;
}

// ---------- stream session and controls ----------

function renderSession() {
  const dot = $('session-dot');
  const title = $('session-title');
  const meta = $('session-meta');
  dot.classList.toggle('on', !!active);
  $('end-stream').disabled = !active || controlBusy;
  if (active) {
    title.textContent = 'Live now';
    const since = formatTime(active.startedAt);
    const started = toDate(active.startedAt);
    const running = started ? formatDuration(Date.now() - started.getTime()) : '';
    meta.textContent = `Session started ${since}${running ? ` · ${running}` : ''}`;
  } else {
    title.textContent = 'No active stream';
    meta.textContent = lastEnded
      ? `Last stream ended ${formatDateTime(lastEnded.endedAt)} with ${plural(Number(lastEnded.messageCount) || 0, 'message')}.`
      : 'Start a stream to open a new session; End & Archive saves its transcript.';
  }
  renderCount();
}

function renderCount() {
  const shown = feed ? feed.size : 0;
  // The feed holds at most the newest LIVE_LIMIT messages; the server counts the whole log.
  const n = active ? Math.max(shown, serverCount + addedSinceCount) : shown;
  $('message-count').textContent = String(n);
  $('message-count-label').textContent = `${n === 1 ? 'message' : 'messages'}${active ? ' this stream' : ' in feed'}`;
}

async function refreshSessions() {
  const sessions = sessionsFrom(await api('/api/stream/sessions'));
  const running = sessions.find(isActive) || null;
  const changed = (running && running.id) !== (active && active.id);
  active = running;
  serverCount = running ? Number(running.messageCount) || 0 : 0;
  addedSinceCount = 0;
  lastEnded = sessions.find((s) => !isActive(s)) || null;
  renderSession();
  if (!$('history-view').hidden) renderSessions(sessions, openSession);
  return { sessions, changed };
}

let controlBusy = false;

async function control(action) {
  const status = $('control-status');
  const start = $('start-stream');
  const end = $('end-stream');
  clearTimeout(control.fade);
  controlBusy = true;
  start.disabled = true;
  end.disabled = true;
  status.classList.remove('error');
  status.textContent = action === 'start' ? 'Starting a new stream…' : 'Ending and archiving…';
  try {
    const res = await api('/api/stream/control', { method: 'POST', body: { action } });
    const session = res && res.session ? res.session : null;
    if (action === 'start') {
      active = session && isActive(session) ? session : active;
      serverCount = session ? Number(session.messageCount) || 0 : 0;
      addedSinceCount = 0;
      status.textContent = `Stream started at ${formatTime(session ? session.startedAt : Date.now())}.`;
    } else {
      active = null;
      if (session) lastEnded = session;
      const count = session ? Number(session.messageCount) || 0 : 0;
      status.textContent = `Stream archived with ${plural(count, 'message')}. Find it under History.`;
    }
    controlBusy = false;
    renderSession();
    clearTimeout(control.fade);
    control.fade = setTimeout(() => { status.textContent = ''; }, 8000);
    await reloadLive();
    refreshSessions().catch(() => {});
  } catch (err) {
    if (handleAuthLoss(err)) return;
    status.classList.add('error');
    status.textContent = withRetryHint(err);
  } finally {
    controlBusy = false;
    start.disabled = false;
    renderSession();
  }
}

function onStreamEvent(frame) {
  const session = frame.session || null;
  if (frame.status === 'started') {
    if (active && session && active.id === session.id) return; // our own click, already shown
    active = session;
    serverCount = session ? Number(session.messageCount) || 0 : 0;
    addedSinceCount = 0;
  } else if (frame.status === 'ended') {
    if (!active && lastEnded && session && lastEnded.id === session.id) return;
    active = null;
    if (session) lastEnded = session;
  } else {
    return;
  }
  renderSession();
  reloadLive().catch(() => {});
  refreshSessions().catch(() => {});
}

// ---------- live feed ----------

/** Replaces the live feed with the active log (after a start/end, or on first load). */
async function reloadLive() {
  const generation = ++liveGeneration;
  feed.clear();
  lastId = null;
  const data = await api(`/api/messages?limit=${LIVE_LIMIT}`);
  if (generation !== liveGeneration) return;
  const messages = messagesFrom(data);
  // A frame may have arrived while the request ran; keep the newest in log order as `since`.
  const wsLast = lastId;
  feed.add(messages);
  const inResponse = wsLast !== null && messages.some((m) => String(m.id) === String(wsLast));
  if ((wsLast === null || inResponse) && messages.length > 0) lastId = messages[messages.length - 1].id;
  liveLoaded = true;
  renderCount();
}

function onChatMessage(m) {
  if (!m || (me && m.streamerId && m.streamerId !== me.id)) return;
  lastId = m.id;
  addedSinceCount += feed.add([m], { fresh: true });
  renderCount();
}

function showSocketNotice(text) {
  const box = $('socket-notice');
  box.textContent = text;
  box.hidden = !text;
  clearTimeout(showSocketNotice.timer);
  if (text) showSocketNotice.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ---------- connection ----------

function renderConn(state) {
  const box = $('conn');
  const text = $('conn-text');
  const retry = $('conn-retry');
  box.dataset.state = state.kind;
  retry.hidden = state.kind !== 'failed';
  clearInterval(countdownTimer);
  box.title = '';
  switch (state.kind) {
    case 'connecting':
      text.textContent = 'Connecting…';
      break;
    case 'live':
      text.textContent = 'Live';
      break;
    case 'reconnecting': {
      const tick = () => {
        const secs = Math.ceil((state.retryAt - Date.now()) / 1000);
        text.textContent = secs > 0
          ? `Reconnecting in ${secs} s (try ${state.attempt} of ${state.max})`
          : `Reconnecting… (try ${state.attempt} of ${state.max})`;
      };
      tick();
      countdownTimer = setInterval(tick, 250);
      break;
    }
    case 'failed':
      text.textContent = 'Disconnected';
      box.title = state.reason;
      showSocketNotice(`${state.reason} Press Retry when the gateway is back.`);
      break;
    default:
      break;
  }
}

async function onOpen() {
  const reconnect = everOpened;
  everOpened = true;
  if (!liveLoaded) {
    try {
      await reloadLive();
    } catch (err) {
      if (handleAuthLoss(err)) return;
    }
  } else if (reconnect) {
    // While we were away a stream may have started or ended: then the active log changed.
    try {
      const { changed } = await refreshSessions();
      if (changed) await reloadLive();
    } catch (err) {
      if (handleAuthLoss(err)) return;
    }
  }
  const join = { type: 'join', streamerId: me.id };
  if (lastId !== null) join.since = String(lastId);
  conn.send(join);
  if (reconnect) showSocketNotice('');
}

function onFrame(frame) {
  if (!frame || typeof frame.type !== 'string') return;
  switch (frame.type) {
    case 'chat:message':
      onChatMessage(frame.message);
      break;
    case 'joined':
      conn.joined();
      break;
    case 'stream':
      onStreamEvent(frame);
      break;
    case 'chat:delete':
    case 'chat:clear_user':
    case 'chat:clear':
      feed.moderate(frame);
      break;
    case 'channel:status':
      channelStatus(frame);
      break;
    case 'filters':
      applyFiltersFrame(frame);
      break;
    case 'overlay:hide':
      overlayHidden(frame.id, feed.line(frame.id));
      break;
    case 'error':
      showSocketNotice(typeof frame.error === 'string' ? frame.error : 'The live feed reported an error.');
      break;
    default:
      break;
  }
}

async function onClosed(ev) {
  if (ev.code === 1013) showSocketNotice('The live feed fell behind; catching up…');
  // A closed socket may mean the session ended; check now and then (not on every retry).
  if (Date.now() - lastSessionCheck < 15000) return;
  lastSessionCheck = Date.now();
  try {
    if (!(await currentUser())) {
      conn.stop();
      toLogin('expired');
    }
  } catch {
    // Unreachable: the reconnect loop handles it.
  }
}

// ---------- views ----------

function setView(view) {
  $('live-view').hidden = view !== 'live';
  $('history-view').hidden = view !== 'history';
  $('transcript-view').hidden = view !== 'transcript';
  $('show-live').setAttribute('aria-pressed', String(view === 'live'));
  $('show-history').setAttribute('aria-pressed', String(view === 'history' || view === 'transcript'));
}

function showLive() {
  setView('live');
  feed.scrollToBottom();
}

async function showHistory() {
  setView('history');
  const status = $('history-status');
  status.hidden = true;
  try {
    await refreshSessions();
  } catch (err) {
    if (handleAuthLoss(err)) return;
    status.textContent = err.message;
    status.hidden = false;
  }
}

function openSession(session) {
  if (isActive(session)) {
    showLive();
    return;
  }
  setView('transcript');
  showTranscript(session).catch((err) => handleAuthLoss(err));
  $('back-live').focus();
}

// ---------- start ----------

async function main() {
  try {
    me = await currentUser();
  } catch (err) {
    alertInPage(err.message);
    setTimeout(() => location.reload(), 5000);
    return;
  }
  if (!me) {
    toLogin();
    return;
  }
  showAccount(me);

  feed = new Feed($('feed'), {
    pill: $('new-pill'), empty: $('feed-empty'), onChange: renderCount, decorate: decorateLine,
  });
  initSimulator();
  initChannels();
  initOverlays();
  initFilters();
  onFiltersChange(() => feed.restyle());
  $('hide-deleted').addEventListener('change', (ev) => {
    document.body.classList.toggle('hide-deleted', ev.target.checked);
  });

  $('start-stream').addEventListener('click', () => control('start'));
  $('end-stream').addEventListener('click', () => control('end'));
  $('show-live').addEventListener('click', showLive);
  $('show-history').addEventListener('click', showHistory);
  $('refresh-history').addEventListener('click', showHistory);
  $('back-live').addEventListener('click', showLive);
  $('back-history').addEventListener('click', showHistory);
  $('conn-retry').addEventListener('click', () => {
    showSocketNotice('');
    conn.retry();
  });

  refreshSessions().catch((err) => {
    if (!handleAuthLoss(err)) $('session-title').textContent = 'Could not load your stream.';
  });
  // Keeps "Session started … · 12 min" current.
  setInterval(renderSession, 1000);

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  conn = new Connection({
    url: `${scheme}//${location.host}/api/socket`,
    onOpen,
    onFrame,
    onState: renderConn,
    onClosed,
  });
  try {
    await reloadLive();
  } catch (err) {
    if (handleAuthLoss(err)) return;
    // Loaded again when the socket opens.
  }
  conn.start();
}

main();
