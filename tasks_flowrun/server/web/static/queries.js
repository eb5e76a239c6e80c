// The GraphQL documents of the page (Prefect 1's Hasura-style schema). Runs are read through
// `flow_run(where: {id: ...})`, never `flow_run_by_pk`: the backend counts by-pk reads of a
// Running run as proof that its flow process is alive.

const ROW = `id name state created scheduled_start_time start_time end_time labels
  flow { id name flow_group_id project { id name } }`;

export const RUNS = `query Runs($where: flow_run_bool_exp!, $limit: Int!) {
  flow_run(where: $where, order_by: [{created: desc}, {id: desc}], limit: $limit) { ${ROW} }
}`;

export const CHILD_RUNS = `query Children($where: flow_run_bool_exp!) {
  flow_run(where: $where, order_by: [{created: asc}, {id: asc}], limit: 1000) { ${ROW} context }
}`;

export const PROJECTS = `query { project(order_by: [{name: asc}]) { id name } }`;

export const RUN_PAGE = `query RunPage($id: uuid!, $tree: flow_run_bool_exp!, $logs: log_bool_exp!,
    $logOrder: [log_order_by!], $logLimit: Int!) {
  run: flow_run(where: {id: {_eq: $id}}, limit: 1) {
    id name state state_message version labels parameters context run_config
    created scheduled_start_time start_time end_time
    flow { id name version flow_group_id project { id name } }
    states(order_by: [{timestamp: asc}]) { id state message timestamp start_time }
    task_runs { id name map_index state state_message start_time end_time task_id task { id name slug } }
  }
  tree: flow_run(where: $tree, order_by: [{created: asc}, {id: asc}], limit: 1000) {
    id name state created start_time end_time context task_runs { state }
  }
  logs: log(where: $logs, order_by: $logOrder, limit: $logLimit) { id timestamp level name message }
}`;

export const ANCESTOR = `query Ancestor($id: uuid!) {
  flow_run(where: {id: {_eq: $id}}, limit: 1) { id name state context }
}`;

export const CANCEL = `mutation Cancel($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }`;

export const FOR_RESTART = `query ForRestart($id: uuid!) {
  flow_run(where: {id: {_eq: $id}}, limit: 1) {
    id version state serialized_state
    task_runs { id task_id state serialized_state }
    flow { edges { upstream_task_id downstream_task_id } }
  }
}`;

export const SET_TASK_RUN_STATES = `mutation SetTaskRunStates($input: set_task_run_states_input!) {
  set_task_run_states(input: $input) { states { id status message } }
}`;

export const SET_FLOW_RUN_STATES = `mutation SetFlowRunStates($input: set_flow_run_states_input!) {
  set_flow_run_states(input: $input) { states { id status message } }
}`;

export const FLOWS = `query Flows {
  project(order_by: [{name: asc}]) {
    id name description
    flows(where: {archived: {_eq: false}}, order_by: [{name: asc}]) { id name version flow_group_id created }
  }
}`;

export const FLOW_GROUP = `query FlowGroup($group: uuid!) {
  flow(where: {flow_group_id: {_eq: $group}}, order_by: [{version: desc}]) {
    id name version archived created parameters project { id name }
  }
  flow_run(where: {flow_group_id: {_eq: $group}}, order_by: [{created: desc}, {id: desc}], limit: 10) {
    id name state created start_time end_time
  }
}`;

export const CREATE_RUN = `mutation CreateRun($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }`;
