// Prefect 1 states: the kind that picks a colour and an icon. The state's name is always
// shown as text too, so colour never carries the state alone.

const KINDS = {
  ok: ['Success', 'Cached', 'Mapped'],
  bad: ['Failed', 'TimedOut', 'TriggerFailed', 'ValidationFailed', 'ClientFailed'],
  run: ['Running', 'Submitted', 'Resume', 'Cancelling', 'Looped', 'Retrying'],
  wait: ['Scheduled', 'Pending', 'Queued', 'Paused'],
  off: ['Cancelled', 'Skipped'],
};
const KIND_OF = Object.fromEntries(Object.entries(KINDS).flatMap(([k, names]) => names.map((n) => [n, k])));
const ICONS = { ok: '✓', bad: '✗', run: '▶', wait: '◷', off: '⊘', none: '·' };

export const STATE_NAMES = Object.values(KINDS).flat().sort();
const FINISHED = new Set([...KINDS.ok, ...KINDS.bad, ...KINDS.off, 'Looped']);
const RESTARTABLE = new Set([...KINDS.bad, 'Cancelled']);

export const kindOf = (state) => KIND_OF[state] || 'none';
export const isFinished = (state) => FINISHED.has(state);
export const isRestartable = (state) => RESTARTABLE.has(state);

export function badge(state, h) {
  const name = state || 'Pending';
  const kind = kindOf(name);
  return h('span', { class: `badge badge-${kind}`, 'data-state': name },
    h('span', { class: 'badge-icon', 'aria-hidden': 'true' }, ICONS[kind]), name);
}

export function updateBadge(el, state) {
  const name = state || 'Pending';
  if (el.dataset.state === name) return;
  const kind = kindOf(name);
  el.dataset.state = name;
  el.className = `badge badge-${kind}`;
  el.firstChild.textContent = ICONS[kind];
  el.lastChild.textContent = name;
}

// "17/20 Success, 2 Running, 1 Failed" for a list of state names
export function progress(states) {
  if (!states.length) return '';
  const counts = new Map();
  for (const s of states) counts.set(s || 'Pending', (counts.get(s || 'Pending') || 0) + 1);
  const done = counts.get('Success') || 0;
  counts.delete('Success');
  const rest = [...counts].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n} ${s}`);
  return [`${done}/${states.length} Success`, ...rest].join(', ');
}
