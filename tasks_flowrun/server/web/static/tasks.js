// A run's task runs, one row per task; a mapped task's children are grouped with counts per state.
import { h, replace } from './dom.js';
import { durationSpan } from './format.js';
import { badge, progress } from './states.js';

function byTask(taskRuns) {
  const groups = new Map();
  for (const tr of taskRuns) {
    if (!groups.has(tr.task_id)) groups.set(tr.task_id, []);
    groups.get(tr.task_id).push(tr);
  }
  for (const list of groups.values()) list.sort((a, b) => a.map_index - b.map_index);
  return [...groups.values()].sort((a, b) => String(a[0].start_time || '~').localeCompare(String(b[0].start_time || '~')));
}

function taskName(tr) {
  return (tr.task && (tr.task.name || tr.task.slug)) || tr.name || tr.task_id;
}

export function renderTasks(container, taskRuns) {
  if (!taskRuns.length) return replace(container, h('p', { class: 'muted' }, 'No task runs yet.'));
  const rows = [];
  for (const group of byTask(taskRuns)) {
    const parent = group.find((t) => t.map_index === -1);
    const mapped = group.filter((t) => t.map_index >= 0);
    const head = parent || group[0];
    rows.push(h('tr', {},
      h('td', { 'data-label': 'Task' }, taskName(head)),
      h('td', { 'data-label': 'State' }, badge(head.state, h), head.state_message ? h('span', { class: 'message' }, head.state_message) : null),
      h('td', { 'data-label': 'Duration' }, durationSpan(h, head.start_time, head.end_time)),
      h('td', { 'data-label': 'Mapped' }, mapped.length
        ? h('details', { class: 'mapped' },
          h('summary', {}, `${mapped.length} mapped: ${progress(mapped.map((t) => t.state))}`),
          h('ul', { class: 'plain' }, mapped.map((t) => h('li', {}, `[${t.map_index}] `, badge(t.state, h), ' ',
            t.name || '', ' ', durationSpan(h, t.start_time, t.end_time)))))
        : '—')));
  }
  return replace(container, h('table', { class: 'tasks', 'aria-label': 'Task runs' },
    h('thead', {}, h('tr', {}, ['Task', 'State', 'Duration', 'Mapped children'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
}
