// The Overlay panel: create an overlay link (its key is shown once, with a Copy button), list the
// links (label, created, last used, revoked) and revoke them, and build the overlay URL from the
// options form, with a live preview of it.
//
// The server never shows a key again, so the key of a link made here lives only in this page's
// memory: the options and the preview use it until the page is reloaded.
//
// SAFETY: labels come from the server and reach the page via textContent; the key goes only into
// the URL's fragment, never into a request.

import { api } from './api.js';
import { el, PLATFORMS } from './message.js';
import { formatDateTime } from './format.js';
import { OVERLAY_DEFAULTS, overlayUrl } from './overlay-options.js';

const $ = (id) => document.getElementById(id);
/** The placeholder the built URL shows when this page holds no key. */
const NO_KEY = 'YOUR-KEY';
/** How long the preview waits after the last option change before reloading. */
const PREVIEW_DEBOUNCE_MS = 400;

/** The link made in this page: `{id, key}`; null before one is made or after it is revoked. */
let made = null;
let previewTimer = null;

function status(text, error = false) {
  const box = $('overlay-status');
  box.textContent = text;
  box.classList.toggle('error', error);
}

/** Copies the value of a read-only field; says how it went. */
async function copyField(input) {
  input.focus();
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    status('Copied.');
  } catch {
    // No clipboard API outside a secure context (http on a LAN address): the text is selected.
    status('Press Ctrl+C (⌘C) to copy the selected link.');
  }
}

function renderList(overlays) {
  const list = $('overlay-list');
  list.replaceChildren(...overlays.map((o) => {
    const li = el('li', 'overlay-link');
    li.dataset.id = String(o.id);
    const label = String(o.label ?? '');
    const chip = el('span', `chip ${o.revoked ? 'chip-idle' : 'chip-live'}`, o.revoked ? 'revoked' : 'active');
    const used = o.lastUsedAt ? `last used ${formatDateTime(o.lastUsedAt)}` : 'never used';
    const meta = el('span', 'overlay-link-meta', `created ${formatDateTime(o.createdAt)} · ${used}`);
    li.append(el('span', 'overlay-link-label', label), chip);
    if (!o.revoked) {
      const revoke = el('button', 'btn btn-small btn-danger', 'Revoke');
      revoke.type = 'button';
      revoke.setAttribute('aria-label', `Revoke overlay link ${label}`);
      revoke.addEventListener('click', () => revokeLink(o.id, revoke));
      li.append(revoke);
    }
    li.append(meta);
    return li;
  }));
  $('overlay-empty').hidden = overlays.length > 0;
}

async function refresh() {
  try {
    const data = await api('/api/overlays');
    renderList(Array.isArray(data && data.overlays) ? data.overlays : []);
  } catch {
    // The panel keeps its last view; the next refresh tries again.
  }
}

async function revokeLink(id, button) {
  button.disabled = true;
  try {
    await api(`/api/overlays/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (made && made.id === id) {
      made = null;
      $('overlay-created').hidden = true;
      $('overlay-new-url').value = '';
    }
    status('Revoked: overlays using that link went blank.');
    updateUrl();
    await refresh();
  } catch (err) {
    status(err.message, true);
    button.disabled = false;
  }
}

async function create(ev) {
  ev.preventDefault();
  const label = $('overlay-label').value.trim();
  status('Creating…');
  try {
    const link = await api('/api/overlays', { method: 'POST', body: label ? { label } : {} });
    made = { id: String(link.id), key: String(link.key) };
    $('overlay-new-url').value = `${location.origin}${link.url}`;
    $('overlay-created').hidden = false;
    $('overlay-label').value = '';
    status(`Created “${String(link.label ?? label)}”.`);
    updateUrl();
    await refresh();
  } catch (err) {
    status(err.message, true);
  }
}

/** The options form as overlay options. */
function readOptions() {
  const form = $('overlay-options');
  const int = (name, fallback) => {
    const n = Number(form.elements[name].value);
    return Number.isFinite(n) && form.elements[name].value !== '' ? n : fallback;
  };
  const checked = (name) => form.elements[name].checked;
  const platforms = [...form.querySelectorAll('input[name="platform"]:checked')].map((i) => i.value);
  const commands = form.elements.hideCommands.value;
  return {
    limit: int('limit', OVERLAY_DEFAULTS.limit),
    fade: int('fade', OVERLAY_DEFAULTS.fade),
    size: int('size', OVERLAY_DEFAULTS.size),
    align: form.elements.align.value,
    theme: form.elements.theme.value,
    tts: form.elements.tts.value,
    hideCommands: commands === '' ? null : commands === '1',
    block: form.elements.block.value.split(',').map((s) => s.trim()).filter(Boolean),
    // None ticked would show nothing; the overlay reads an empty list as "all", so say so.
    platforms,
    badges: checked('badges'),
    emotes: checked('emotes'),
    hideBots: checked('hideBots'),
  };
}

/** Rebuilds the URL from the options and (debounced) reloads the preview. */
function updateUrl() {
  const options = readOptions();
  const note = $('overlay-url-note');
  $('overlay-url').value = overlayUrl(location.origin, options, made ? made.key : NO_KEY);
  if (options.platforms.length === 0) {
    note.textContent = 'No platform ticked: the overlay shows all of them.';
  } else if (made) {
    note.textContent = 'Uses the link created above. The preview below is that overlay, live: send a line with the simulator to see it.';
  } else {
    note.textContent = `Create a link to fill in its key (or put your link's key in place of ${NO_KEY}); keys are never shown again.`;
  }
  clearTimeout(previewTimer);
  const box = $('overlay-preview-box');
  const frame = $('overlay-preview');
  if (!made) {
    box.hidden = true;
    frame.removeAttribute('src');
    return;
  }
  box.hidden = false;
  const url = $('overlay-url').value;
  previewTimer = setTimeout(() => {
    if (frame.src !== url) frame.src = url;
  }, PREVIEW_DEBOUNCE_MS);
}

/** Asks the overlays to drop a line now; throws an ApiError with the server's sentence. */
export async function hideOnOverlay(id) {
  await api('/api/overlays/hide', { method: 'POST', body: { id: String(id) } });
}

/** Wires the panel and loads the list. */
/** One ticked "show" box per platform (name="platform"), ahead of the other options. */
function platformBoxes() {
  const boxes = Object.entries(PLATFORMS).map(([slug, p]) => {
    const input = el('input');
    input.type = 'checkbox';
    input.name = 'platform';
    input.value = slug;
    input.checked = true;
    const label = el('label');
    label.append(input, ` ${p.name}`);
    return label;
  });
  $('overlay-show').querySelector('legend').after(...boxes);
}

export function initOverlays() {
  platformBoxes();
  $('overlay-create').addEventListener('submit', create);
  $('overlay-copy-new').addEventListener('click', () => copyField($('overlay-new-url')));
  $('overlay-copy-url').addEventListener('click', () => copyField($('overlay-url')));
  const form = $('overlay-options');
  form.addEventListener('input', updateUrl);
  form.addEventListener('change', updateUrl);
  form.addEventListener('submit', (ev) => ev.preventDefault());
  updateUrl();
  refresh();
  setInterval(refresh, 30000);
}
