// URLs of the page's views (the same paths Prefect prints: /<tenant-slug>/flow-run/<id>).
export const SLUG = location.pathname.split('/')[1] && location.pathname.split('/')[2] ? location.pathname.split('/')[1] : 'default';
export const runUrl = (id) => `/${SLUG}/flow-run/${encodeURIComponent(id)}`;
export const flowUrl = (groupId) => `/${SLUG}/flow/${encodeURIComponent(groupId)}`;
export const flowsUrl = () => `/${SLUG}/flows`;
export const parentOf = (run) => ((run && run.context) || {}).parent_flow_run_id || null;
