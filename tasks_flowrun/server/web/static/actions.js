// The run page's action buttons: cancel (the backend cascades to children) and restart,
// each behind a confirmation.
import { gql } from './api.js';
import { confirmAction } from './dialogs.js';
import { h } from './dom.js';
import { CANCEL } from './queries.js';
import { restartRun } from './restart.js';
import { isFinished, isRestartable } from './states.js';
import { setStatus } from './status.js';

export function createActions(flowRunId, refresh) {
  let run = null;
  const cancel = h('button', { type: 'button', id: 'cancel-run', class: 'danger', disabled: true }, 'Cancel run');
  const restart = h('button', { type: 'button', id: 'restart-run', disabled: true }, 'Restart run');

  async function act(title, text, label, work) {
    if (!(await confirmAction(title, text, label))) return;
    try {
      setStatus(await work());
    } catch (error) {
      setStatus(`${title} failed: ${error.message}`, true);
    }
    refresh();
  }
  cancel.addEventListener('click', () => act('Cancel this run?',
    `"${run.name}" and its unfinished child runs will be cancelled.`, 'Cancel run',
    async () => `Cancel requested: ${(await gql(CANCEL, { input: { flow_run_id: flowRunId } })).cancel_flow_run.state}`));
  restart.addEventListener('click', () => act('Restart this run?',
    `"${run.name}" keeps its id: its failed task runs go back to Pending and the run is scheduled now.`, 'Restart run',
    async () => `Restarted: ${await restartRun(flowRunId)} task runs to rerun`));

  return {
    element: h('div', { class: 'buttons actions' }, cancel, restart),
    update(current) {
      run = current;
      cancel.disabled = isFinished(run.state);
      restart.disabled = !isRestartable(run.state);
    },
  };
}
