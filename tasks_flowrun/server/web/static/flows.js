// Flows and projects: the list by project, and one flow's versions, recent runs and a
// "run this flow" form (create_flow_run with an idempotency key: a double click makes one run).
import { gql } from './api.js';
import { h, replace } from './dom.js';
import { durationSpan, fmtTime } from './format.js';
import { flowUrl, runUrl } from './links.js';
import { CREATE_RUN, FLOWS, FLOW_GROUP } from './queries.js';
import { badge } from './states.js';
import { setStatus } from './status.js';

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export async function mountFlows(main) {
  const data = await gql(FLOWS);
  replace(main, h('h1', {}, 'Flows and projects'),
    data.project.length ? null : h('p', { class: 'muted' }, 'No projects yet: register a flow with `prefect register`.'),
    data.project.map((p) => h('section', { class: 'project', 'aria-label': `Project ${p.name}` },
      h('h2', {}, p.name, h('span', { class: 'muted' }, ` · ${p.flows.length} flows`)),
      p.description ? h('p', {}, p.description) : null,
      p.flows.length ? h('ul', { class: 'plain flows' }, p.flows.map((f) => h('li', {},
        h('a', { href: flowUrl(f.flow_group_id) }, f.name), h('span', { class: 'muted' }, ` version ${f.version}, registered ${fmtTime(f.created)}`))))
        : h('p', { class: 'muted' }, 'No flows.'))));
  main.dataset.loaded = 'true';
}

function parameterInputs(flow) {
  return (flow.parameters || []).map((p, i) => {
    const id = `param-${i}`;
    const value = p.default === undefined || p.default === null ? '' : JSON.stringify(p.default);
    return h('div', { class: 'field' },
      h('label', { for: id }, `${p.name}${p.required ? ' (required)' : ''} — JSON`),
      h('input', { id, name: p.name, value, class: 'param', 'data-required': p.required ? 'true' : null }));
  });
}

function readParameters(form) {
  const parameters = {};
  for (const input of form.querySelectorAll('input.param')) {
    const text = input.value.trim();
    if (!text) {
      if (input.dataset.required) throw new Error(`Parameter ${input.name} is required.`);
      continue;
    }
    try {
      parameters[input.name] = JSON.parse(text);
    } catch {
      parameters[input.name] = text; // a bare word is taken as a string
    }
  }
  return parameters;
}

export async function mountFlow(main, groupId) {
  const data = await gql(FLOW_GROUP, { group: groupId });
  const versions = data.flow;
  if (!versions.length) return replace(main, h('h1', {}, 'Flow not found'), h('a', { href: '/' }, 'All runs'));
  const active = versions.find((f) => !f.archived) || versions[0];
  let key = newKey();
  const versionSel = h('select', { id: 'run-version' }, versions.map((f) => h('option', { value: f.id, selected: f === active },
    `version ${f.version}${f.archived ? ' (archived)' : ''}`)));
  const params = h('div', {}, parameterInputs(active));
  versionSel.addEventListener('change', () => replace(params, parameterInputs(versions.find((f) => f.id === versionSel.value))));
  const runName = h('input', { id: 'run-name', placeholder: 'generated if empty' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'run-submit' }, 'Run this flow');
  const form = h('form', { class: 'stack run-form', 'aria-label': 'Run this flow' },
    h('div', { class: 'field' }, h('label', { for: 'run-version' }, 'Version'), versionSel), params,
    h('div', { class: 'field' }, h('label', { for: 'run-name' }, 'Run name'), runName), h('div', { class: 'buttons' }, submit));
  form.addEventListener('input', () => { key = newKey(); }); // a changed form is a new request
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const input = { flow_id: versionSel.value, parameters: readParameters(form), idempotency_key: key };
      if (runName.value.trim()) input.flow_run_name = runName.value.trim();
      const created = await gql(CREATE_RUN, { input });
      location.assign(runUrl(created.create_flow_run.id));
    } catch (error) {
      setStatus(`Could not create the run: ${error.message}`, true);
    }
  });
  replace(main, h('h1', {}, active.name), h('p', { class: 'muted' }, `Project ${(active.project || {}).name || '—'}`),
    h('section', { 'aria-labelledby': 'run-title' }, h('h2', { id: 'run-title' }, 'Run this flow'), form),
    h('section', { 'aria-labelledby': 'versions-title' }, h('h2', { id: 'versions-title' }, 'Versions'),
      h('ul', { class: 'plain' }, versions.map((f) => h('li', {}, `version ${f.version}`, f.archived ? ' (archived)' : ' (active)',
        h('span', { class: 'muted' }, ` registered ${fmtTime(f.created)}`))))),
    h('section', { 'aria-labelledby': 'recent-title' }, h('h2', { id: 'recent-title' }, 'Recent runs'),
      data.flow_run.length ? h('ul', { class: 'plain' }, data.flow_run.map((r) => h('li', {}, badge(r.state, h), ' ',
        h('a', { href: runUrl(r.id) }, r.name), ' ', h('span', { class: 'muted' }, fmtTime(r.start_time || r.created)), ' ',
        durationSpan(h, r.start_time, r.end_time)))) : h('p', { class: 'muted' }, 'No runs yet.')));
  main.dataset.loaded = 'true';
}
