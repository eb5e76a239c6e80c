// A run's descendants as a tree (nested lists): each node shows state, duration and a
// progress summary (its children's states, or for a leaf its task runs' states). Nodes are
// kept by id and updated in place, so focus and folding survive the live refreshes.
import { h, setText, syncChildren } from './dom.js';
import { durationSpan, setDuration } from './format.js';
import { parentOf, runUrl } from './links.js';
import { badge, progress, updateBadge } from './states.js';

export function createTree(rootId) {
  const nodes = new Map();
  const collapsed = new Set();
  const summary = h('p', { class: 'tree-summary', id: 'tree-summary' });
  const top = h('ul', { class: 'tree', id: 'tree' });
  const element = h('div', {}, summary, top);
  let last = [];

  function nodeFor(run) {
    let n = nodes.get(run.id);
    if (n) return n;
    const toggle = h('button', { type: 'button', class: 'fold', 'aria-expanded': 'true' });
    toggle.addEventListener('click', () => {
      if (collapsed.has(run.id)) collapsed.delete(run.id); else collapsed.add(run.id);
      update(last);
    });
    n = {
      toggle,
      badge: badge(run.state, h),
      link: h('a', { href: runUrl(run.id), class: 'node-link' }, run.name || run.id),
      duration: durationSpan(h, run.start_time, run.end_time),
      progress: h('span', { class: 'progress' }),
      children: h('ul', { class: 'tree-children' }),
    };
    n.slot = h('span', { class: 'toggle-slot' });
    n.li = h('li', { class: 'tree-node', 'data-run-id': run.id },
      h('div', { class: 'node' }, n.slot, n.badge, n.link, n.duration, n.progress), n.children);
    nodes.set(run.id, n);
    return n;
  }

  function fill(run, childrenOf, seen) {
    const n = nodeFor(run);
    const kids = (childrenOf.get(run.id) || []).filter((k) => !seen.has(k.id));
    kids.forEach((k) => seen.add(k.id));
    updateBadge(n.badge, run.state);
    setDuration(n.duration, run.start_time, run.end_time);
    const tasks = (run.task_runs || []).map((t) => t.state);
    setText(n.progress, kids.length ? `children: ${progress(kids.map((k) => k.state))}`
      : tasks.length ? `tasks: ${progress(tasks)}` : '');
    const open = !collapsed.has(run.id);
    if (kids.length) {
      if (n.slot.firstChild !== n.toggle) n.slot.replaceChildren(n.toggle);
      n.toggle.setAttribute('aria-expanded', String(open));
      n.toggle.setAttribute('aria-label', `${open ? 'Hide' : 'Show'} the ${kids.length} child runs of ${run.name}`);
      setText(n.toggle, open ? '▾' : '▸');
    } else n.slot.replaceChildren();
    n.children.hidden = !open || !kids.length;
    syncChildren(n.children, kids.map((k) => fill(k, childrenOf, seen)));
    return n.li;
  }

  function update(runs) {
    last = runs;
    const childrenOf = new Map();
    for (const run of runs) {
      const parent = parentOf(run);
      if (!childrenOf.has(parent)) childrenOf.set(parent, []);
      childrenOf.get(parent).push(run);
    }
    const seen = new Set([rootId]);
    const first = childrenOf.get(rootId) || [];
    first.forEach((k) => seen.add(k.id));
    syncChildren(top, first.map((k) => fill(k, childrenOf, seen)));
    setText(summary, runs.length
      ? `${first.length} child runs, ${runs.length} at all depths: ${progress(runs.map((r) => r.state))}`
      : 'No child runs.');
  }

  return { element, update };
}
