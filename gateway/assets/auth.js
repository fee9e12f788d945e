// Register and log-in forms: client-side checks that mirror the gateway's rules, the server's
// sentence on refusal, and a redirect to the dashboard on success.

import { api, currentUser, withRetryHint } from './api.js';
import { showAccount } from './topbar.js';

/** The gateway's username rule: 3–32 of A–Z, a–z, 0–9, _ and -. */
const USERNAME_CHARS = /^[A-Za-z0-9_-]*$/;
/** bcrypt reads at most 72 bytes; the gateway refuses longer passwords instead of cutting them. */
const PASSWORD_MIN_BYTES = 6;
const PASSWORD_MAX_BYTES = 72;

export function usernameProblem(name) {
  if (name.length === 0) return 'Enter a username.';
  if (!USERNAME_CHARS.test(name)) return 'Use only letters, digits, _ and - (no spaces or accents).';
  if (name.length < 3) return 'Use at least 3 characters.';
  if (name.length > 32) return 'Use at most 32 characters.';
  return null;
}

export function passwordProblem(password) {
  const bytes = new TextEncoder().encode(password).length;
  if (bytes === 0) return 'Enter a password.';
  if (bytes < PASSWORD_MIN_BYTES) return `Use at least ${PASSWORD_MIN_BYTES} characters.`;
  if (bytes > PASSWORD_MAX_BYTES) {
    return `Use at most ${PASSWORD_MAX_BYTES} bytes (this one has ${bytes}; accented letters and emoji take 2–4 bytes each).`;
  }
  return null;
}

const form = document.getElementById('auth-form');
const mode = form.dataset.mode; // 'register' | 'login'
const username = document.getElementById('username');
const password = document.getElementById('password');
const submit = document.getElementById('submit');
const formError = document.getElementById('form-error');
const label = submit.textContent;
let submitted = false;

function showFieldError(input, problem) {
  const box = document.getElementById(`${input.id}-error`);
  box.textContent = problem || '';
  box.hidden = !problem;
  if (problem) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

function validate() {
  const u = usernameProblem(username.value);
  const p = passwordProblem(password.value);
  showFieldError(username, u);
  showFieldError(password, p);
  return { ok: !u && !p, first: u ? username : p ? password : null };
}

function showFormError(text) {
  formError.textContent = text || '';
  formError.hidden = !text;
}

function busy(on) {
  submit.disabled = on;
  submit.textContent = on ? (mode === 'register' ? 'Creating account…' : 'Logging in…') : label;
}

async function onSubmit(event) {
  event.preventDefault();
  submitted = true;
  showFormError('');
  const check = validate();
  if (!check.ok) {
    check.first.focus();
    return;
  }
  const body = { username: username.value, password: password.value };
  busy(true);
  try {
    if (mode === 'register') {
      await api('/api/auth/register', { method: 'POST', body });
      // Registration creates the account only; logging in opens the session.
      await api('/api/auth/login', { method: 'POST', body });
    } else {
      await api('/api/auth/login', { method: 'POST', body });
    }
    location.assign('/dashboard');
  } catch (err) {
    busy(false);
    showFormError(withRetryHint(err));
    if (err.status === 409) username.focus();
    else if (err.status === 401) password.select();
  }
}

function showNotice() {
  const params = new URLSearchParams(location.search);
  const notice = document.getElementById('auth-notice');
  let text = '';
  if (params.has('loggedOut')) text = 'You are logged out. See you next stream!';
  else if (params.has('expired')) text = 'Your session has ended. Log in again to open your dashboard.';
  notice.textContent = text;
  notice.hidden = !text;
}

async function main() {
  form.addEventListener('submit', onSubmit);
  for (const input of [username, password]) {
    input.addEventListener('input', () => { if (submitted) validate(); });
  }
  showNotice();
  let user = null;
  try {
    // Just logged out: no need to ask who we are.
    if (!new URLSearchParams(location.search).has('loggedOut')) user = await currentUser();
  } catch {
    // Unreachable gateway: the form still works once it is back.
  }
  if (user) {
    location.replace('/dashboard');
    return;
  }
  showAccount(null);
  username.focus();
}

main();
