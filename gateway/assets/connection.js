// A live-feed WebSocket (the dashboard's /api/socket, the overlay's /api/overlay/socket): connect,
// report state, reconnect with exponential backoff and jitter (1 s doubling to 30 s, at most 10
// tries by default, then give up until "Retry"; the overlay, which nobody can click, tries for
// ever). A close with one of the caller's final codes (the overlay's "link not valid / revoked")
// ends it for good.
//
// What to send on open (the join with `since`) is the caller's business: it knows the last id.

export const MAX_TRIES = 10;
const BASE_MS = 1000;
const CAP_MS = 30000;
/** A connection that stays open this long counts as healthy: the next outage starts at 1 s again. */
const HEALTHY_MS = 10000;
/** Give up on a connect attempt that neither opens nor fails within this time. */
const CONNECT_TIMEOUT_MS = 10000;
/** The server closes a subscriber that fell too far behind with 1013; rejoining at once is safe. */
const CLOSE_TRY_AGAIN_LATER = 1013;

/** The wait before try `attempt` (1-based): 1, 2, 4, … 30 s, each ±20 % so clients spread out. */
export function backoffDelay(attempt) {
  const base = Math.min(CAP_MS, BASE_MS * 2 ** (attempt - 1));
  const jitter = 0.8 + Math.random() * 0.4;
  return Math.min(CAP_MS, Math.round(base * jitter));
}

/**
 * State reported to `onState`:
 *   {kind: 'connecting'}
 *   {kind: 'live'}
 *   {kind: 'reconnecting', attempt, max, retryAt}   (retryAt: Date.now() ms of the next try)
 *   {kind: 'failed', reason}
 *   {kind: 'ended', code, reason}                  (closed with a final code: no more tries)
 */
export class Connection {
  /**
   * @param {{url: string, onOpen: (ws: WebSocket) => void, onFrame: (data: any) => void,
   *          onState: (state: object) => void, onClosed?: (ev: {code: number, reason: string}) => void,
   *          maxTries?: number, finalCodes?: number[]}} opts
   *   maxTries: reconnect tries before giving up (Infinity: never give up)
   *   finalCodes: close codes after which it stops for good (state 'ended' with the server's reason)
   */
  constructor({ url, onOpen, onFrame, onState, onClosed, maxTries = MAX_TRIES, finalCodes = [] }) {
    this.url = url;
    this.maxTries = maxTries;
    this.finalCodes = finalCodes;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onClosed = onClosed || (() => {});
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.healthyTimer = null;
    this.connectTimer = null;
    this.stopped = false;
    this.state = null;
    window.addEventListener('online', () => this.nudge());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.nudge();
    });
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** "Retry" after giving up: a fresh round of tries. */
  retry() {
    clearTimeout(this.timer);
    this.start();
  }

  /** While waiting to reconnect, try now (the network came back, the tab became visible). */
  nudge() {
    if (this.state && this.state.kind === 'reconnecting') {
      clearTimeout(this.timer);
      this.open();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.healthyTimer);
    clearTimeout(this.connectTimer);
    if (this.ws) this.ws.close(1000, 'leaving');
  }

  /** The server confirmed the join: messages flow. */
  joined() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.setState({ kind: 'live' });
    clearTimeout(this.healthyTimer);
    this.healthyTimer = setTimeout(() => { this.attempt = 0; }, HEALTHY_MS);
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  open() {
    if (this.stopped) return;
    if (this.attempt === 0) this.setState({ kind: 'connecting' });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      // Not "live" yet: that is when the server confirms the join (see joined()).
      this.onOpen(ws);
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      this.onFrame(data);
    });
    let ended = false;
    const end = (code, reason = '') => {
      if (ended || this.ws !== ws) return;
      ended = true;
      this.ws = null;
      clearTimeout(this.connectTimer);
      clearTimeout(this.healthyTimer);
      if (this.stopped) return;
      if (this.finalCodes.includes(code)) {
        this.stopped = true;
        clearTimeout(this.timer);
        this.setState({ kind: 'ended', code, reason });
        return;
      }
      this.onClosed({ code, reason });
      if (this.stopped) return;
      if (code === CLOSE_TRY_AGAIN_LATER) {
        // Too slow, not broken: rejoin right away (with `since`) without spending a try.
        this.setState({ kind: 'reconnecting', attempt: 1, max: this.maxTries, retryAt: Date.now() + 250 });
        this.timer = setTimeout(() => this.open(), 250);
        return;
      }
      this.scheduleReconnect();
    };
    ws.addEventListener('close', (ev) => end(ev.code, ev.reason));
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.OPEN) return;
      ws.close();
      end(1006);
    }, CONNECT_TIMEOUT_MS);
    // Chromium reports a refused connection with 'error' (readyState already CLOSED) and may
    // deliver 'close' only much later, if at all: do not wait for it.
    ws.addEventListener('error', () => {
      setTimeout(() => {
        if (ws.readyState === WebSocket.CLOSED) end(1006);
      }, 250);
    });
  }

  scheduleReconnect() {
    this.attempt += 1;
    if (this.attempt > this.maxTries) {
      this.setState({
        kind: 'failed',
        reason: `Could not reach the live feed after ${this.maxTries} tries.`,
      });
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.setState({ kind: 'reconnecting', attempt: this.attempt, max: this.maxTries, retryAt: Date.now() + delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }
}
