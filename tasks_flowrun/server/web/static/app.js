// Entry point: pick the view for this URL. Every view is a full page load (no client router).
import { h, replace } from './dom.js';
import { mountFlow, mountFlows } from './flows.js';
import { mountRun } from './run.js';
import { mountRuns } from './runs.js';
import { setStatus } from './status.js';

const main = document.getElementById('main');
const [, slug, kind, id] = location.pathname.split('/').map(decodeURIComponent);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function notFound() {
  replace(main, h('h1', {}, 'Not found'), h('p', {}, `${id || 'This id'} is not a valid id.`), h('a', { href: '/' }, 'All runs'));
}

function current(linkId) {
  const link = document.getElementById(linkId);
  if (link) link.setAttribute('aria-current', 'page');
}

async function start() {
  try {
    if (slug && kind === 'flow-run' && UUID.test(id || '')) mountRun(main, id);
    else if (slug && kind === 'flows') { current('nav-flows'); await mountFlows(main); }
    else if (slug && kind === 'flow' && UUID.test(id || '')) { current('nav-flows'); await mountFlow(main, id); }
    else if (slug && (kind === 'flow-run' || kind === 'flow')) notFound();
    else { current('nav-runs'); mountRuns(main); }
  } catch (error) {
    setStatus(error.message, true);
    replace(main, h('h1', {}, 'Could not load this page'), h('p', {}, error.message));
  }
}

start();
