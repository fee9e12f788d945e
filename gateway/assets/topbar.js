// The top bar shared by every page: guest links, or the user's name and a "Log out" button.

import { api, withRetryHint } from './api.js';

/**
 * Shows the signed-in or the guest variant of the top bar.
 * @param {{id: string, username: string} | null} user
 */
export function showAccount(user) {
  const guest = document.getElementById('nav-guest');
  const signed = document.getElementById('nav-user');
  if (!guest || !signed) return;
  guest.hidden = !!user;
  signed.hidden = !user;
  if (!user) return;
  document.getElementById('nav-username').textContent = user.username;
  document.getElementById('nav-avatar').textContent = (user.username || '?').slice(0, 1);
  const button = document.getElementById('logout');
  if (button.dataset.bound) return;
  button.dataset.bound = '1';
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api('/api/auth/logout', { method: 'POST', body: {} });
      location.assign('/login?loggedOut=1');
    } catch (err) {
      button.disabled = false;
      button.title = withRetryHint(err);
      alertInPage(withRetryHint(err));
    }
  });
}

/** A transient message for failures that have no better place (e.g. logout). */
export function alertInPage(text) {
  let box = document.getElementById('page-alert');
  if (!box) {
    box = document.createElement('p');
    box.id = 'page-alert';
    box.className = 'form-error page-alert';
    box.setAttribute('role', 'alert');
    document.body.append(box);
  }
  box.textContent = text;
  box.hidden = false;
  clearTimeout(alertInPage.timer);
  alertInPage.timer = setTimeout(() => { box.hidden = true; }, 6000);
}
