// A run's logs, tailed live: the newest 500 lines first, then only what is new on each
// refresh. Level filter and text search apply to the lines held here (at most MAX_LINES).
import { h, replace, setText } from './dom.js';
import { fmtTime } from './format.js';

const FIRST = 500;
const MAX_LINES = 5000;
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

export function createLogs(flowRunId) {
  const lines = [];
  const seen = new Set();
  let newest = null;
  const level = h('select', { id: 'log-level' },
    LEVELS.map((l, i) => h('option', { value: String(i), selected: l === 'DEBUG' }, i ? `${l} and above` : 'All levels')));
  const search = h('input', { id: 'log-search', type: 'search', placeholder: 'text in message' });
  const follow = h('input', { id: 'log-follow', type: 'checkbox', checked: true });
  const count = h('span', { class: 'muted', id: 'log-count' });
  const list = h('ol', { class: 'log-lines', id: 'log-lines', tabindex: '0', 'aria-label': 'Log lines' });
  const element = h('div', {},
    h('div', { class: 'filters' },
      h('div', { class: 'field' }, h('label', { for: 'log-level' }, 'Level'), level),
      h('div', { class: 'field' }, h('label', { for: 'log-search' }, 'Search'), search),
      h('div', { class: 'field check' }, follow, h('label', { for: 'log-follow' }, 'Follow new lines')), count),
    list);

  const matches = (line) => {
    const rank = LEVELS.indexOf(String(line.level).toUpperCase());
    const text = search.value.trim().toLowerCase();
    return (rank < 0 || rank >= Number(level.value)) && (!text || String(line.message).toLowerCase().includes(text));
  };
  const lineEl = (line) => h('li', { class: `log log-${String(line.level).toLowerCase()}` },
    h('time', { datetime: line.timestamp }, fmtTime(line.timestamp)), ' ',
    h('span', { class: 'level' }, line.level), ' ', h('span', { class: 'logger' }, line.name || ''), ' ',
    h('span', { class: 'msg' }, line.message));
  const showAll = () => {
    replace(list, lines.filter(matches).map(lineEl));
    scroll();
  };
  const scroll = () => { if (follow.checked) list.scrollTop = list.scrollHeight; };
  level.addEventListener('change', showAll);
  search.addEventListener('input', showAll);

  return {
    element,
    // the `logs` variables of the page's next request
    variables() {
      const where = { flow_run_id: { _eq: flowRunId } };
      if (newest === null) return { logs: where, logOrder: [{ timestamp: 'desc' }, { id: 'desc' }], logLimit: FIRST };
      return { logs: { ...where, timestamp: { _gte: newest } }, logOrder: [{ timestamp: 'asc' }, { id: 'asc' }], logLimit: FIRST };
    },
    add(rows) {
      const fresh = (newest === null ? [...rows].reverse() : rows).filter((r) => !seen.has(r.id));
      if (newest === null) newest = rows.length ? rows[0].timestamp : '1970-01-01T00:00:00+00:00';
      for (const row of fresh) {
        seen.add(row.id);
        lines.push(row);
        if (row.timestamp > newest) newest = row.timestamp;
        if (matches(row)) list.append(lineEl(row));
      }
      if (lines.length > MAX_LINES) {
        lines.splice(0, lines.length - MAX_LINES);
        showAll();
      } else if (fresh.length) scroll();
      setText(count, `${lines.length} lines`);
    },
  };
}
