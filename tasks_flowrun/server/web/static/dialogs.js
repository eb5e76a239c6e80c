// A confirmation in a modal <dialog>: resolves true only if the user confirms.
import { h } from './dom.js';

export function confirmAction(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', value: 'yes', class: 'danger' }, confirmLabel);
    const no = h('button', { type: 'submit', value: 'no' }, 'Keep it');
    const dialog = h('dialog', { class: 'modal', 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog', class: 'stack' },
        h('h2', { id: 'confirm-title' }, title), h('p', {}, text), h('div', { class: 'buttons' }, no, yes)));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
