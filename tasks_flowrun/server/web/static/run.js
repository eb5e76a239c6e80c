// The run page: state, actions, parents, the live tree of children, task runs, logs,
// state history and details. One request per refresh reads all of it.
import { createActions } from './actions.js';
import { gql } from './api.js';
import { h, pretty, replace, setText } from './dom.js';
import { durationSpan, fmtTime, tickDurations } from './format.js';
import { flowUrl, parentOf, runUrl } from './links.js';
import { createLogs } from './logs.js';
import { poll } from './poll.js';
import { ANCESTOR, RUN_PAGE } from './queries.js';
import { renderTasks } from './tasks.js';
import { badge } from './states.js';
import { createTree } from './tree.js';

const MAX_DEPTH = 20;

function section(id, title, ...body) {
  return h('section', { id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), ...body);
}

function changed(el, value) {
  const key = JSON.stringify(value);
  if (el.dataset.sig === key) return false;
  el.dataset.sig = key;
  return true;
}

async function ancestors(run) {
  const chain = [];
  let id = parentOf(run);
  while (id && chain.length < MAX_DEPTH && !chain.some((a) => a.id === id)) {
    const found = (await gql(ANCESTOR, { id })).flow_run[0];
    chain.unshift(found || { id, name: id });
    id = found ? parentOf(found) : null;
  }
  return chain;
}

function overview(run) {
  const flow = run.flow || {};
  const item = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
  return h('dl', { class: 'overview' },
    item('Flow', flow.flow_group_id ? h('a', { href: flowUrl(flow.flow_group_id) }, `${flow.name} (v${flow.version})`) : '—'),
    item('Project', (flow.project || {}).name || '—'),
    item('Labels', (run.labels || []).length ? (run.labels || []).map((l) => h('span', { class: 'chip' }, l)) : '—'),
    item('Scheduled', fmtTime(run.scheduled_start_time)),
    item('Started', fmtTime(run.start_time)),
    item('Ended', fmtTime(run.end_time)),
    item('Duration', durationSpan(h, run.start_time, run.end_time)),
    item('Run id', h('code', {}, run.id)));
}

function history(states) {
  return h('table', { class: 'history', 'aria-label': 'State history' },
    h('thead', {}, h('tr', {}, ['Time', 'State', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, states.map((s) => h('tr', {},
      h('td', { 'data-label': 'Time' }, h('time', { datetime: s.timestamp }, fmtTime(s.timestamp))),
      h('td', { 'data-label': 'State' }, badge(s.state, h),
        s.start_time && s.state === 'Scheduled' ? h('span', { class: 'muted' }, ` for ${fmtTime(s.start_time)}`) : null),
      h('td', { 'data-label': 'Message' }, s.message || '')))));
}

export function mountRun(main, flowRunId) {
  const known = new Set([flowRunId]);
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Parent runs', id: 'parents' });
  const title = h('h1', { id: 'run-title' }, 'Flow run');
  const stateLine = h('p', { class: 'state-line', id: 'run-state' });
  const tree = createTree(flowRunId);
  const logs = createLogs(flowRunId);
  const parts = { overview: h('div'), tasks: h('div', { id: 'task-runs' }), history: h('div', { id: 'state-history' }), details: h('div') };
  let poller = null;
  const actions = createActions(flowRunId, () => poller && poller.now());
  replace(main, crumbs, title, stateLine, actions.element, parts.overview,
    section('children', 'Child runs', tree.element),
    section('tasks', 'Task runs', parts.tasks),
    section('logs', 'Logs', logs.element),
    section('states', 'State history', parts.history),
    section('details', 'Parameters, context and run config', parts.details));
  let parentsShown = false;

  async function refresh() {
    const tree_ = { _or: [...known].map((id) => ({ context: { _contains: { parent_flow_run_id: id } } })) };
    const data = await gql(RUN_PAGE, { id: flowRunId, tree: tree_, ...logs.variables() });
    const run = data.run[0];
    if (!run) {
      replace(main, h('h1', {}, 'Run not found'), h('p', {}, `No flow run has the id ${flowRunId}.`), h('a', { href: '/' }, 'All runs'));
      poller.stop();
      return;
    }
    document.title = `${run.name} · ${run.state} · tasks-flowrun`;
    setText(title, run.name);
    if (changed(stateLine, [run.state, run.state_message])) {
      replace(stateLine, badge(run.state, h), run.state_message ? h('span', { class: 'message' }, run.state_message) : null);
    }
    actions.update(run);
    const { task_runs: taskRuns, states, ...rest } = run;
    if (changed(parts.overview, rest)) replace(parts.overview, overview(run));
    if (changed(parts.tasks, taskRuns)) renderTasks(parts.tasks, taskRuns);
    if (changed(parts.history, states)) replace(parts.history, history(states));
    if (changed(parts.details, [run.parameters, run.context, run.run_config])) {
      replace(parts.details, ...[['Parameters', run.parameters], ['Context', run.context], ['Run config', run.run_config]]
        .map(([name, value]) => h('details', { open: name === 'Parameters' }, h('summary', {}, name), h('pre', {}, pretty(value)))));
    }
    tree.update(data.tree);
    logs.add(data.logs);
    tickDurations(main);
    const before = known.size;
    for (const r of data.tree) known.add(r.id);
    main.dataset.loaded = 'true';
    if (!parentsShown) {
      parentsShown = true;
      const chain = await ancestors(run);
      replace(crumbs, h('a', { href: '/' }, 'Runs'), chain.map((a) => [' › ', h('a', { href: runUrl(a.id) }, a.name || a.id)]),
        ' › ', h('span', { 'aria-current': 'page' }, run.name));
    }
    if (known.size > before && known.size < 1000) setTimeout(() => poller.now(), 0); // a deeper level may exist
  }

  poller = poll(refresh, 1500);
}
