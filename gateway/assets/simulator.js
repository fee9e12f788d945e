// The simulator panel: pretend to be a chatter on any platform. One tab per entry of PLATFORMS;
// each keeps its own username, badges and colour; a successful send clears only the message text.

import { api, withRetryHint } from './api.js';
import { PLATFORMS, renderMessage, safeColour, setPlatform } from './message.js';

const USER_MAX = 64;
const TEXT_MAX = 1000;

/** The tabs, first one selected: a button per platform with its name, mark and colours. */
function buildTabs(form) {
  const [first] = Object.keys(PLATFORMS);
  const tabs = Object.entries(PLATFORMS).map(([slug, p]) => {
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.className = 'tab';
    tab.id = `tab-${slug}`;
    tab.textContent = p.name;
    tab.dataset.mark = p.mark;
    setPlatform(tab, slug);
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-selected', String(slug === first));
    tab.setAttribute('aria-controls', form.id);
    if (slug !== first) tab.tabIndex = -1;
    return tab;
  });
  document.getElementById('sim-tabs').replaceChildren(...tabs);
  form.setAttribute('aria-labelledby', `tab-${first}`);
  return tabs;
}

export function initSimulator() {
  const form = document.getElementById('sim-form');
  const tabs = buildTabs(form);
  const user = document.getElementById('sim-user');
  const text = document.getElementById('sim-text');
  const vip = document.getElementById('sim-vip');
  const mod = document.getElementById('sim-mod');
  const sub = document.getElementById('sim-sub');
  const colour = document.getElementById('sim-color');
  const colourValue = document.getElementById('sim-color-value');
  const preview = document.getElementById('sim-preview');
  const send = document.getElementById('sim-send');
  const status = document.getElementById('sim-status');

  /** Per-platform form state, as the reference keeps it. */
  const forms = Object.fromEntries(Object.entries(PLATFORMS).map(([slug, p]) => [slug, {
    user: '', text: '', isVip: false, isMod: false, isSub: false, color: p.sample,
  }]));
  let active = tabs[0].dataset.platform;
  let sending = false;

  function save() {
    Object.assign(forms[active], {
      user: user.value, text: text.value,
      isVip: vip.checked, isMod: mod.checked, isSub: sub.checked, color: colour.value,
    });
  }

  function load() {
    const f = forms[active];
    user.value = f.user;
    text.value = f.text;
    vip.checked = f.isVip;
    mod.checked = f.isMod;
    sub.checked = f.isSub;
    colour.value = f.color;
    updatePreview();
  }

  function updatePreview() {
    colourValue.textContent = colour.value;
    preview.replaceChildren(renderMessage({
      id: 'preview', platform: PLATFORMS[active].name, timestamp: Date.now(),
      user: user.value.trim() || 'username', text: text.value.trim() || 'your message',
      isVip: vip.checked, isMod: mod.checked, isSub: sub.checked, color: safeColour(colour.value),
    }));
    // The preview has no time column: it is not a real message yet.
    preview.querySelector('.ts')?.remove();
  }

  function select(platform, focus) {
    if (platform === active) return;
    save();
    active = platform;
    for (const tab of tabs) {
      const on = tab.dataset.platform === platform;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on) {
        form.setAttribute('aria-labelledby', tab.id);
        if (focus) tab.focus();
      }
    }
    load();
    setStatus('', '');
  }

  function setStatus(kind, message) {
    status.className = `sim-status${kind ? ' ' + kind : ''}`;
    status.textContent = message;
  }

  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab.dataset.platform, false));
    tab.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(tab);
      let next = null;
      if (ev.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (ev.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (ev.key === 'Home') next = tabs[0];
      else if (ev.key === 'End') next = tabs[tabs.length - 1];
      if (next) {
        ev.preventDefault();
        select(next.dataset.platform, true);
      }
    });
  }
  for (const input of [user, text, vip, mod, sub, colour]) {
    input.addEventListener('input', updatePreview);
    input.addEventListener('change', updatePreview);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const platform = active;
    const name = user.value.trim();
    const message = text.value.trim();
    if (!name) { setStatus('error', 'Enter a username.'); user.focus(); return; }
    if ([...name].length > USER_MAX) { setStatus('error', `Use at most ${USER_MAX} characters for the username.`); user.focus(); return; }
    if (!message) { setStatus('error', 'Type a message to send.'); text.focus(); return; }
    if ([...message].length > TEXT_MAX) { setStatus('error', `Keep the message under ${TEXT_MAX} characters.`); text.focus(); return; }
    const body = {
      user: name, text: message,
      isVip: vip.checked, isSub: sub.checked, isMod: mod.checked,
      color: safeColour(colour.value.toLowerCase()) ?? undefined,
    };
    sending = true;
    send.disabled = true;
    setStatus('busy', 'Sending…');
    try {
      await api(`/api/producers/${platform}`, { method: 'POST', body });
      setStatus('ok', `Sent to ${PLATFORMS[platform].name}.`);
      forms[platform].text = '';
      if (active === platform) {
        text.value = '';
        updatePreview();
      }
    } catch (err) {
      setStatus('error', withRetryHint(err));
    } finally {
      sending = false;
      send.disabled = false;
      if (active === platform) text.focus();
    }
  });

  load();
}
