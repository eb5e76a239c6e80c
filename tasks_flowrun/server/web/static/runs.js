// The runs list: newest first, filters kept in the URL, keyset paging on (created, id).
import { gql } from './api.js';
import { h, replace, setText, syncChildren } from './dom.js';
import { durationSpan, fmtTime, setDuration, tickDurations } from './format.js';
import { flowUrl, parentOf, runUrl } from './links.js';
import { poll } from './poll.js';
import { CHILD_RUNS, PROJECTS, RUNS } from './queries.js';
import { badge, STATE_NAMES, updateBadge } from './states.js';

const PAGE_SIZE = 50;
const WINDOWS = [['', 'Any time'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']];
const WINDOW_MS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };

function readFilters() {
  const q = new URLSearchParams(location.search);
  const get = (k) => q.get(k) || '';
  return { state: get('state'), flow: get('flow'), project: get('project'), label: get('label'), window: get('window'), top: q.get('top') === '1' };
}

function writeFilters(filters) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v === true ? '1' : v);
  history.replaceState(null, '', q.toString() ? `/?${q}` : '/');
}

export function whereFor(f, cursor) {
  const all = [];
  if (f.state) all.push({ state: { _eq: f.state } });
  if (f.flow) all.push({ flow: { name: { _ilike: `%${f.flow}%` } } });
  if (f.project) all.push({ flow: { project: { name: { _eq: f.project } } } });
  if (f.label) all.push({ labels: { _contains: [f.label] } });
  if (WINDOW_MS[f.window]) all.push({ created: { _gte: new Date(Date.now() - WINDOW_MS[f.window]).toISOString() } });
  if (f.top) all.push({ _not: { context: { _has_key: 'parent_flow_run_id' } } });
  if (cursor) all.push({ _or: [{ created: { _lt: cursor.created } }, { created: { _eq: cursor.created }, id: { _lt: cursor.id } }] });
  return { _and: all };
}

function field(id, label, control) {
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

function select(options, value) {
  return h('select', {}, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

// One table row per run, kept by key and updated in place
function rowFactory() {
  const rows = new Map();
  return function row(run, key, depth, toggle) {
    let r = rows.get(key);
    if (!r) {
      const link = h('a', { href: runUrl(run.id), class: 'run-link' }, run.name || run.id);
      r = {
        tr: h('tr', { class: depth ? 'child-row' : '' }),
        badge: badge(run.state, h), duration: durationSpan(h, run.start_time, run.end_time),
        toggleCell: h('span', { class: 'toggle-slot' }), link,
      };
      const flow = run.flow || {};
      r.tr.append(
        h('td', { 'data-label': 'State' }, r.badge),
        h('td', { 'data-label': 'Run', class: depth ? 'indent' : '' }, r.toggleCell, link),
        h('td', { 'data-label': 'Flow' }, flow.flow_group_id ? h('a', { href: flowUrl(flow.flow_group_id) }, flow.name) : '—'),
        h('td', { 'data-label': 'Project' }, (flow.project || {}).name || '—'),
        h('td', { 'data-label': 'Start' }, h('span', { class: 'start' })),
        h('td', { 'data-label': 'Duration' }, r.duration));
      rows.set(key, r);
    }
    updateBadge(r.badge, run.state);
    setDuration(r.duration, run.start_time, run.end_time);
    setText(r.tr.querySelector('.start'), fmtTime(run.start_time || run.scheduled_start_time));
    if (toggle) { if (r.toggleCell.firstChild !== toggle) replace(r.toggleCell, toggle); } else r.toggleCell.replaceChildren();
    return r.tr;
  };
}

export function mountRuns(main) {
  let filters = readFilters();
  const cursors = [null]; // keyset cursor of each page shown so far; the last is the current page
  const expanded = new Set();
  const toggles = new Map();
  const row = rowFactory();

  const stateSel = field('f-state', 'State', select([['', 'Any state'], ...STATE_NAMES.map((s) => [s, s])], filters.state));
  const flowIn = field('f-flow', 'Flow', h('input', { type: 'search', value: filters.flow, placeholder: 'name contains' }));
  const projectSel = field('f-project', 'Project', select([['', 'Any project'], ...(filters.project ? [[filters.project, filters.project]] : [])], filters.project));
  const labelIn = field('f-label', 'Label', h('input', { type: 'search', value: filters.label, placeholder: 'exact label' }));
  const windowSel = field('f-window', 'Created', select(WINDOWS, filters.window));
  const topBox = h('input', { type: 'checkbox', id: 'f-top', checked: filters.top });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    stateSel, flowIn, projectSel, labelIn, windowSel,
    h('div', { class: 'field check' }, topBox, h('label', { for: 'f-top' }, 'Top-level only (children folded under their parent)')));
  const tbody = h('tbody', { id: 'runs-body' });
  const table = h('table', { class: 'runs', 'aria-label': 'Flow runs, newest first' },
    h('thead', {}, h('tr', {}, ['State', 'Run', 'Flow', 'Project', 'Start', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))), tbody);
  const newer = h('button', { type: 'button', id: 'page-newer' }, '← Newer');
  const older = h('button', { type: 'button', id: 'page-older' }, 'Older →');
  const pageInfo = h('span', { class: 'muted', id: 'page-info' });
  const empty = h('p', { class: 'muted', hidden: true }, 'No runs match.');
  replace(main, h('h1', {}, 'Flow runs'), form, h('div', { class: 'table-wrap' }, table), empty,
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, newer, pageInfo, older));

  let lastRows = [];
  const readForm = () => ({
    state: stateSel.lastChild.value, flow: flowIn.lastChild.value.trim(), project: projectSel.lastChild.value,
    label: labelIn.lastChild.value.trim(), window: windowSel.lastChild.value, top: topBox.checked,
  });
  let typing = null;
  form.addEventListener('input', (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      filters = readForm();
      writeFilters(filters);
      cursors.length = 1;
      poller.now();
    }, event.target.type === 'search' ? 300 : 0);
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  older.addEventListener('click', () => {
    const last = lastRows[lastRows.length - 1];
    if (last) { cursors.push({ created: last.created, id: last.id }); poller.now(); }
  });
  newer.addEventListener('click', () => { if (cursors.length > 1) { cursors.pop(); poller.now(); } });

  gql(PROJECTS).then((data) => {
    const control = projectSel.lastChild;
    const current = control.value;
    replace(control, h('option', { value: '' }, 'Any project'),
      data.project.map((p) => h('option', { value: p.name, selected: p.name === current }, p.name)));
  }).catch(() => {});

  function toggleFor(run, count) {
    let button = toggles.get(run.id);
    if (!button) {
      button = h('button', { type: 'button', class: 'fold', 'aria-expanded': 'false' });
      button.addEventListener('click', () => {
        if (expanded.has(run.id)) expanded.delete(run.id); else expanded.add(run.id);
        render(lastRows, lastChildren);
      });
      toggles.set(run.id, button);
    }
    const open = expanded.has(run.id);
    button.setAttribute('aria-expanded', String(open));
    setText(button, `${open ? '▾' : '▸'} ${count}`);
    button.setAttribute('aria-label', `${open ? 'Hide' : 'Show'} ${count} child runs of ${run.name}`);
    return button;
  }

  let lastChildren = new Map();
  function render(rows, children) {
    const nodes = [];
    for (const run of rows) {
      const kids = children.get(run.id) || [];
      nodes.push(row(run, run.id, 0, kids.length ? toggleFor(run, kids.length) : null));
      if (expanded.has(run.id)) for (const kid of kids) nodes.push(row(kid, `c:${kid.id}`, 1, null));
    }
    syncChildren(tbody, nodes);
    empty.hidden = rows.length > 0;
    tickDurations(tbody);
  }

  async function refresh() {
    const cursor = cursors[cursors.length - 1];
    const data = await gql(RUNS, { where: whereFor(filters, cursor), limit: PAGE_SIZE + 1 });
    const rows = data.flow_run.slice(0, PAGE_SIZE);
    const children = new Map();
    if (filters.top && rows.length) {
      const kids = await gql(CHILD_RUNS, { where: { _or: rows.map((r) => ({ context: { _contains: { parent_flow_run_id: r.id } } })) } });
      for (const kid of kids.flow_run) {
        const parent = parentOf(kid);
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(kid);
      }
    }
    lastRows = rows;
    lastChildren = children;
    render(rows, children);
    newer.disabled = cursors.length === 1;
    older.disabled = data.flow_run.length <= PAGE_SIZE;
    const first = (cursors.length - 1) * PAGE_SIZE;
    setText(pageInfo, rows.length ? `Runs ${first + 1}–${first + rows.length}` : '');
    main.dataset.loaded = 'true';
  }

  const poller = poll(refresh, 2000);
}
