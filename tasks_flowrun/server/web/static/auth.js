// The API key: asked once, kept for the tab (sessionStorage) or, if the user asks, on this
// device (localStorage); sent by api.js as `Authorization: Bearer <key>`.
import { h } from './dom.js';

const NAME = 'tasks-flowrun-api-key';
let asking = null;

export function getKey() {
  return sessionStorage.getItem(NAME) || localStorage.getItem(NAME) || '';
}

export function forgetKey() {
  sessionStorage.removeItem(NAME);
  localStorage.removeItem(NAME);
}

function store(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(NAME, key);
}

// Ask for the key in a modal dialog; concurrent callers share one prompt.
export function askKey(wasWrong) {
  if (!asking) {
    asking = new Promise((resolve) => {
      const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'current-password', required: true });
      const remember = h('input', { id: 'api-key-remember', type: 'checkbox' });
      const form = h('form', { method: 'dialog', class: 'stack' },
        h('h2', {}, 'API key needed'),
        h('p', {}, wasWrong ? 'That key was refused. ' : '', 'This backend requires an API key.'),
        h('label', { for: 'api-key' }, 'API key'), input,
        h('label', { class: 'inline' }, remember, ' Remember on this device'),
        h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Use key')));
      const dialog = h('dialog', { class: 'modal', 'aria-labelledby': 'api-key-title' }, form);
      form.querySelector('h2').id = 'api-key-title';
      dialog.addEventListener('cancel', (event) => event.preventDefault());
      form.addEventListener('submit', () => {
        store(input.value.trim(), remember.checked);
        dialog.remove();
        asking = null;
        resolve();
      });
      document.body.append(dialog);
      dialog.showModal();
      input.focus();
    });
  }
  return asking;
}
