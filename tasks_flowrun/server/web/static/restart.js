// Restart a failed run in place with the standard mutations, as the plugin's client does:
// its unsuccessful task runs (and successful upstream ones whose value was never
// persisted, so their downstream tasks get real inputs) go back to Pending, then the run
// is Scheduled to start now. The run keeps its id.
import { gql } from './api.js';
import { FOR_RESTART, SET_FLOW_RUN_STATES, SET_TASK_RUN_STATES } from './queries.js';
import { isRestartable } from './states.js';

const RERUN = new Set(['Failed', 'TimedOut', 'TriggerFailed', 'ValidationFailed', 'ClientFailed', 'Cancelled', 'Cancelling', 'Running']);
const VALUE_STATES = new Set(['Success', 'Cached']);

function resultLost(taskRun) {
  const state = taskRun.serialized_state || {};
  return VALUE_STATES.has(state.type || taskRun.state) && !((state._result || {}).location);
}

// The ids of the task runs to put back to Pending
export function taskRunsToRerun(taskRuns, edges) {
  const byTask = new Map();
  for (const tr of taskRuns) {
    if (!byTask.has(tr.task_id)) byTask.set(tr.task_id, []);
    byTask.get(tr.task_id).push(tr);
  }
  const upstream = new Map();
  for (const e of edges) {
    if (!upstream.has(e.downstream_task_id)) upstream.set(e.downstream_task_id, []);
    upstream.get(e.downstream_task_id).push(e.upstream_task_id);
  }
  const chosen = new Set(taskRuns.filter((tr) => RERUN.has(tr.state)).map((tr) => tr.id));
  const todo = [...new Set(taskRuns.filter((tr) => chosen.has(tr.id)).map((tr) => tr.task_id))];
  const done = new Set();
  while (todo.length) {
    const task = todo.pop();
    done.add(task);
    for (const up of upstream.get(task) || []) {
      for (const tr of byTask.get(up) || []) {
        if (!chosen.has(tr.id) && resultLost(tr)) {
          chosen.add(tr.id);
          if (!done.has(up)) todo.push(up);
        }
      }
    }
  }
  return [...chosen].sort();
}

function state(type, message, version, extra = {}) {
  return { type, message, context: {}, cached_inputs: {}, _result: { type: 'NoResultType', __version__: version }, __version__: version, ...extra };
}

export async function restartRun(flowRunId) {
  const data = await gql(FOR_RESTART, { id: flowRunId });
  const run = data.flow_run[0];
  if (!run) throw new Error('The run no longer exists.');
  // the page may be a refresh behind: restart only what is still failed or cancelled
  if (!isRestartable(run.state)) throw new Error(`the run is ${run.state} now, not failed or cancelled.`);
  const version = (run.serialized_state || {}).__version__ || '1.4.1';
  const message = 'Restarted from the web page';
  const rerun = taskRunsToRerun(run.task_runs || [], ((run.flow || {}).edges) || []);
  if (rerun.length) {
    const pending = state('Pending', message, version);
    await gql(SET_TASK_RUN_STATES, { input: { states: rerun.map((id) => ({ task_run_id: id, state: pending })) } });
  }
  const scheduled = state('Scheduled', message, version, { start_time: new Date().toISOString() });
  await gql(SET_FLOW_RUN_STATES, { input: { states: [{ flow_run_id: flowRunId, version: run.version, state: scheduled }] } });
  return rerun.length;
}
