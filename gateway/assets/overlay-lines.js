// The overlay's lines on screen: appended in arrival order, at most `limit` of them (the oldest
// go first), each removed `fade` seconds after it appeared (0: never), and removable at once by id
// or by a predicate (moderation, "hide on overlay", a filter change).

/** How long the fade-out transition in overlay.css takes before the line is removed. */
const FADE_OUT_MS = 500;

export class OverlayLines {
  /**
   * @param {HTMLElement} list the <ol> the lines live in
   * @param {{limit: number, fade: number}} opts fade in seconds
   */
  constructor(list, { limit, fade }) {
    this.list = list;
    this.limit = limit;
    this.fadeMs = fade > 0 ? fade * 1000 : 0;
    /** @type {Map<string, {node: HTMLElement, m: object, ts: number, timers: number[]}>} in order */
    this.lines = new Map();
  }

  get size() { return this.lines.size; }

  /** Shows a rendered line for message `m`. */
  add(m, node) {
    const id = String(m.id);
    if (this.lines.has(id)) return;
    const line = { node, m, ts: Number(m.timestamp) || 0, timers: [] };
    this.lines.set(id, line);
    this.list.append(node);
    if (this.fadeMs > 0) {
      line.timers.push(setTimeout(() => {
        node.classList.add('fading');
        line.timers.push(setTimeout(() => this.remove(id), FADE_OUT_MS));
      }, this.fadeMs));
    }
    while (this.lines.size > this.limit) this.remove(this.lines.keys().next().value);
  }

  /** Removes the line of a message id, if shown. */
  remove(id) {
    const line = this.lines.get(String(id));
    if (!line) return;
    for (const t of line.timers) clearTimeout(t);
    line.node.remove();
    this.lines.delete(String(id));
  }

  /** Removes every line for which `pred(node, message, ts)` holds. */
  removeWhere(pred) {
    for (const [id, line] of [...this.lines]) {
      if (pred(line.node, line.m, line.ts)) this.remove(id);
    }
  }

  /** Removes every line. */
  clear() {
    for (const id of [...this.lines.keys()]) this.remove(id);
  }
}
