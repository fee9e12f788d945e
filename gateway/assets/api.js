// Talking to the gateway's JSON API.
//
// Every request is same-origin with the session cookie; every body is JSON with
// `Content-Type: application/json` (the gateway refuses state changes without it, as CSRF defence).
// Errors become an ApiError whose message is the server's own sentence when it sent one.

/** Shown when the gateway cannot be reached at all (stopped, restarting, network down). */
export const UNREACHABLE = 'Cannot reach the CrossChat server. Check that the gateway is running, then try again.';

export class ApiError extends Error {
  /**
   * @param {string} message a sentence fit to show to the user
   * @param {number} status HTTP status, 0 when there was no answer
   * @param {number|null} retryAfter seconds from a Retry-After header, when present
   */
  constructor(message, status, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function parseRetryAfter(value) {
  if (!value) return null;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs);
  const when = Date.parse(value);
  return Number.isFinite(when) ? Math.max(0, Math.ceil((when - Date.now()) / 1000)) : null;
}

/**
 * Calls the API and returns the parsed JSON body (or null for an empty one).
 * @param {string} path e.g. '/api/auth/me'
 * @param {{method?: string, body?: unknown, signal?: AbortSignal}} [options]
 */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = {
    method,
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
  };
  if (body !== undefined || method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(UNREACHABLE, 0);
  }
  let data = null;
  const raw = await res.text().catch(() => '');
  if (raw) {
    try { data = JSON.parse(raw); } catch { data = null; }
  }
  if (!res.ok) {
    const sentence = data && typeof data.error === 'string' && data.error.trim()
      ? data.error.trim()
      : `The server answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}. Please try again.`;
    throw new ApiError(sentence, res.status, parseRetryAfter(res.headers.get('Retry-After')));
  }
  return data;
}

/** The logged-in user `{id, username}`, or null without a session. Other failures throw. */
export async function currentUser() {
  try {
    const data = await api('/api/auth/me');
    const user = data && typeof data === 'object' && data.user ? data.user : data;
    return user && typeof user.id === 'string' ? user : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Adds "Try again in N s." to an error sentence when the server said when to retry. */
export function withRetryHint(err) {
  if (!(err instanceof ApiError) || err.retryAfter == null) return err.message;
  if (/\btry again in\b/i.test(err.message)) return err.message;
  return `${err.message} Try again in ${err.retryAfter} s.`;
}
