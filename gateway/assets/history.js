// History: the user's stream sessions (newest first) and, for one of them, its whole transcript in
// the same style as the live feed.

import { api } from './api.js';
import { noteClearedLines, renderMessage } from './message.js';
import { formatDateTime, formatDuration, plural, toDate } from './format.js';

/** A session still running has no end. */
export function isActive(session) {
  if (!session) return false;
  if (typeof session.active === 'boolean') return session.active;
  return session.endedAt === null || session.endedAt === undefined;
}

/** The sessions list from GET /api/stream/sessions, whatever its exact wrapping. */
export function sessionsFrom(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.sessions)) return data.sessions;
  return [];
}

/** Messages from GET /api/messages. */
export function messagesFrom(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.messages)) return data.messages;
  return [];
}

export function sessionDuration(session, now = Date.now()) {
  const start = toDate(session.startedAt);
  const end = isActive(session) ? new Date(now) : toDate(session.endedAt);
  return start && end ? end - start : NaN;
}

/**
 * Fills the sessions table.
 * @param {object[]} sessions
 * @param {(session: object) => void} onOpen called with the session whose transcript to show
 */
export function renderSessions(sessions, onOpen) {
  const table = document.getElementById('sessions-table');
  const tbody = document.getElementById('sessions-body');
  const empty = document.getElementById('history-empty');
  const rows = sessions.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.sessionId = String(s.id);
    const cell = (text, className) => {
      const td = document.createElement('td');
      if (className) td.className = className;
      if (text instanceof Node) td.append(text); else td.textContent = text;
      tr.append(td);
      return td;
    };
    const start = toDate(s.startedAt);
    const started = document.createElement('time');
    started.textContent = formatDateTime(s.startedAt);
    if (start) started.dateTime = start.toISOString();
    cell(started);
    if (isActive(s)) {
      const live = document.createElement('span');
      live.className = 'tag-live';
      live.textContent = 'Live now';
      cell(live);
    } else {
      const ended = document.createElement('time');
      ended.textContent = formatDateTime(s.endedAt);
      const end = toDate(s.endedAt);
      if (end) ended.dateTime = end.toISOString();
      cell(ended);
    }
    cell(formatDuration(sessionDuration(s)));
    cell(String(Number(s.messageCount) || 0), 'num message-count');
    const action = document.createElement('button');
    action.type = 'button';
    action.className = 'btn btn-small';
    if (isActive(s)) {
      action.textContent = 'Open live feed';
    } else {
      action.textContent = 'View transcript';
    }
    action.addEventListener('click', () => onOpen(s));
    cell(action, 'num');
    return tr;
  });
  tbody.replaceChildren(...rows);
  table.hidden = rows.length === 0;
  empty.hidden = rows.length > 0;
}

/**
 * Loads and shows a session's transcript.
 * @param {object} session
 */
export async function showTranscript(session) {
  const list = document.getElementById('transcript');
  const title = document.getElementById('transcript-title');
  const meta = document.getElementById('transcript-meta');
  const status = document.getElementById('transcript-status');
  title.textContent = `Stream of ${formatDateTime(session.startedAt)}`;
  meta.textContent = '';
  list.replaceChildren();
  list.hidden = true;
  status.hidden = false;
  status.textContent = 'Loading transcript…';
  let messages;
  try {
    messages = messagesFrom(await api(`/api/messages?session=${encodeURIComponent(session.id)}`));
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  const parts = [plural(messages.length, 'message')];
  const d = formatDuration(sessionDuration(session));
  if (d) parts.push(d);
  if (!isActive(session)) parts.push(`ended ${formatDateTime(session.endedAt)}`);
  meta.textContent = parts.join(' · ');
  if (messages.length === 0) {
    status.textContent = 'Nobody chatted during this stream.';
    return;
  }
  // Render in chunks so a long transcript does not freeze the page. A timed-out user's lines are
  // hidden as they render; their notes come once all are in (one timeout may span chunks).
  const CHUNK = 500;
  const lines = [];
  for (let i = 0; i < messages.length; i += CHUNK) {
    const frag = document.createDocumentFragment();
    for (const m of messages.slice(i, i + CHUNK)) {
      const node = renderMessage(m);
      if (m.deletedBy === 'clear_user') lines.push({ node, m });
      frag.append(node);
    }
    list.append(frag);
    if (i === 0) {
      status.hidden = true;
      list.hidden = false;
    }
    if (i + CHUNK < messages.length) await new Promise((r) => setTimeout(r, 0));
  }
  noteClearedLines(lines);
  list.scrollTop = 0;
}
