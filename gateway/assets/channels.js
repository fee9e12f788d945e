// The Channels panel: link a Twitch, YouTube or Kick channel, see each one's state (a chip and
// the connector's sentence) and last message time, remove a link. States arrive live as
// `channel:status` frames and are refreshed from GET /api/channels every 30 s.
//
// SAFETY: channel names and sentences come from the server and reach the page via textContent.

import { api } from './api.js';
import { el, PLATFORMS, platformMark, platformSlug } from './message.js';
import { formatTime } from './format.js';

const $ = (id) => document.getElementById(id);
/** @type {Map<string, object>} key `slug:channel` → channel view */
const channels = new Map();
const key = (c) => `${platformSlug(c.platform)}:${c.channel}`;

function render() {
  const list = $('channel-list');
  const rows = [...channels.values()].sort((a, b) => key(a).localeCompare(key(b)));
  list.replaceChildren(...rows.map((c) => {
    const slug = platformSlug(c.platform);
    const li = el('li', 'channel');
    li.dataset.platform = slug || '';
    li.dataset.channel = String(c.channel);
    const chip = el('span', `chip chip-${['connecting', 'live', 'idle', 'error'].includes(c.state) ? c.state : 'error'}`, String(c.state));
    const name = el('span', 'channel-name', String(c.channel));
    const detail = el('span', 'channel-detail', String(c.detail ?? ''));
    const last = el('span', 'channel-last', c.lastMessageAt ? `last message ${formatTime(c.lastMessageAt)}` : 'no messages yet');
    const remove = el('button', 'btn btn-small btn-ghost', 'Remove');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Remove ${PLATFORMS[slug]?.name ?? ''} channel ${c.channel}`);
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      try {
        await api(`/api/channels/${slug}/${encodeURIComponent(c.channel)}`, { method: 'DELETE' });
        channels.delete(key(c));
        render();
      } catch (err) {
        $('channel-status').textContent = err.message;
        remove.disabled = false;
      }
    });
    li.append(platformMark(slug), name, chip, remove, detail, last);
    return li;
  }));
  $('channel-empty').hidden = channels.size > 0;
}

async function refresh() {
  try {
    const { channels: list } = await api('/api/channels');
    channels.clear();
    for (const c of list) channels.set(key(c), c);
    render();
  } catch {
    // The panel keeps its last view; the next refresh tries again.
  }
}

/** Applies a `channel:status` frame. */
export function channelStatus(frame) {
  const k = key(frame);
  if (!channels.has(k)) return;
  channels.set(k, { ...channels.get(k), ...frame });
  render();
}

/** Wires the panel's form and loads the list. */
export function initChannels() {
  const form = $('channel-form');
  const kickIds = $('kick-ids');
  const platform = $('channel-platform');
  // The options come from the UI's one platform list.
  platform.replaceChildren(...Object.entries(PLATFORMS).map(([slug, p]) => {
    const option = el('option', '', p.name);
    option.value = slug;
    return option;
  }));
  const sync = () => { kickIds.hidden = platform.value !== 'kick'; };
  platform.addEventListener('change', sync);
  sync();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('channel-status');
    const body = { platform: platform.value, channel: $('channel-input').value };
    const room = $('kick-chatroom').value.trim();
    const chan = $('kick-channel').value.trim();
    if (platform.value === 'kick' && (room || chan)) {
      body.chatroomId = Number(room);
      body.channelId = Number(chan);
    }
    status.textContent = 'Linking…';
    try {
      const { channel } = await api('/api/channels', { method: 'POST', body });
      channels.set(key(channel), channel);
      render();
      status.textContent = `Linked ${channel.channel}.`;
      $('channel-input').value = '';
    } catch (err) {
      status.textContent = err.message;
    }
  });
  refresh();
  setInterval(refresh, 30000);
}
