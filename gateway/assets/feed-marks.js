// What the dashboard adds to a live-feed line: filter marks (blocked users and bots dimmed — their
// lines stay in the transcript —, highlight words), "hidden on overlay", and the line's actions
// "Hide on overlay" and "Block user".
//
// SAFETY: names reach the page only through textContent and attributes.

import { el } from './message.js';
import { filterRules, setUserBlocked } from './filters.js';
import { hideOnOverlay } from './overlays.js';
import { alertInPage } from './topbar.js';

/** Ids hidden on the overlay (a frame may come before its line is in the page). */
const hiddenOnOverlay = new Set();

function setTag(node, className, text) {
  let tag = node.querySelector(`.${className}`);
  if (!text) {
    if (tag) tag.remove();
    return;
  }
  if (!tag) {
    tag = el('span', className);
    const body = node.querySelector('.body') || node;
    body.append(tag);
  }
  tag.textContent = text;
}

function actions(node, m) {
  const box = el('span', 'msg-actions');
  const hide = el('button', 'btn btn-small btn-ghost msg-action', 'Hide on overlay');
  hide.type = 'button';
  hide.addEventListener('click', async () => {
    hide.disabled = true;
    try {
      await hideOnOverlay(m.id);
      markHiddenOnOverlay(node);
    } catch (err) {
      hide.disabled = false;
      alertInPage(err.message);
    }
  });
  const block = el('button', 'btn btn-small btn-ghost msg-action msg-block', 'Block user');
  block.type = 'button';
  block.addEventListener('click', async () => {
    const blocked = filterRules().isBlocked(m);
    block.disabled = true;
    try {
      await setUserBlocked(String(m.user ?? ''), !blocked);
    } catch (err) {
      alertInPage(err.message);
    } finally {
      block.disabled = false;
    }
  });
  box.append(hide, block);
  return box;
}

/** Marks a line as taken off the overlays. */
function markHiddenOnOverlay(node) {
  hiddenOnOverlay.add(node.dataset.id);
  if (node.classList.contains('overlay-hidden')) return;
  node.classList.add('overlay-hidden');
  const hide = node.querySelector('.msg-action');
  if (hide) hide.disabled = true;
  setTag(node, 'overlay-note', 'hidden on overlay');
}

/** Applies an `overlay:hide` frame to the line, if it is in the page (or when it comes). */
export function overlayHidden(id, line) {
  hiddenOnOverlay.add(String(id));
  if (line) markHiddenOnOverlay(line);
}

/**
 * Decorates a live-feed line (again after a filter change): the Feed's `decorate` hook.
 * @param {HTMLLIElement} node
 * @param {object} m the message
 */
export function decorateLine(node, m) {
  const rules = filterRules();
  const blocked = rules.isBlocked(m);
  const bot = !blocked && rules.isBot(m);
  node.classList.toggle('filtered', blocked || bot);
  setTag(node, 'filter-tag', blocked ? 'blocked' : bot ? 'bot' : '');
  const word = rules.highlight(m);
  node.classList.toggle('highlight', word !== null);
  if (word !== null) node.title = `Contains “${word}”`; else node.removeAttribute('title');
  if (!node.querySelector('.msg-actions')) node.append(actions(node, m));
  const block = node.querySelector('.msg-block');
  block.textContent = blocked ? 'Unblock user' : 'Block user';
  block.setAttribute('aria-label', `${blocked ? 'Unblock' : 'Block'} user ${String(m.user ?? '')}`);
  if (hiddenOnOverlay.has(node.dataset.id)) markHiddenOnOverlay(node);
}
