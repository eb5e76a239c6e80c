// The run page's action buttons, each behind a confirmation, each shown only when it applies:
// Cancel while the run is not finished (the backend cascades to its children), Restart once
// it ended failed or cancelled. While one runs, both wait. Its outcome stays under them (the
// header's status line is the refresh's).
import { gql } from './api.js';
import { confirmAction } from './dialogs.js';
import { h } from './dom.js';
import { CANCEL } from './queries.js';
import { restartRun } from './restart.js';
import { isFinished, isRestartable } from './states.js';

async function cancelRun(flowRunId) {
  const state = (await gql(CANCEL, { input: { flow_run_id: flowRunId } })).cancel_flow_run.state;
  if (isFinished(state) && state !== 'Cancelled') return `Nothing to cancel: the run already ended ${state}`;
  return `Cancel requested: ${state}`;
}

export function createActions(flowRunId, refresh) {
  let run = null;
  let busy = false;
  const cancel = h('button', { type: 'button', id: 'cancel-run', class: 'danger', hidden: true }, 'Cancel run');
  const restart = h('button', { type: 'button', id: 'restart-run', hidden: true }, 'Restart run');
  const buttons = h('div', { class: 'buttons actions', hidden: true }, cancel, restart);
  const outcome = h('p', { id: 'action-outcome', role: 'status', class: 'action-outcome' });
  const element = h('div', {}, buttons, outcome);

  function tell(text, isError = false) {
    outcome.textContent = text;
    outcome.classList.toggle('error', isError);
  }

  function show() {
    cancel.hidden = !run || isFinished(run.state);
    restart.hidden = !run || !isRestartable(run.state);
    cancel.disabled = restart.disabled = busy;
    buttons.hidden = cancel.hidden && restart.hidden;
  }

  async function act(title, text, label, work) {
    if (busy || !(await confirmAction(title, text, label))) return;
    busy = true;
    show();
    tell('');
    try {
      tell(await work());
    } catch (error) {
      tell(`${title} failed: ${error.message}`, true);
    } finally {
      busy = false;
      show();
    }
    refresh();
  }
  cancel.addEventListener('click', () => act('Cancel this run?',
    `"${run.name}" and its unfinished child runs will be cancelled.`, 'Cancel run', () => cancelRun(flowRunId)));
  restart.addEventListener('click', () => act('Restart this run?',
    `"${run.name}" keeps its id: its failed task runs go back to Pending and the run is scheduled now.`, 'Restart run',
    async () => `Restarted: ${await restartRun(flowRunId)} task runs to rerun`));

  return {
    element,
    update(current) {
      run = current;
      show();
    },
  };
}
