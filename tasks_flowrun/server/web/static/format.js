// Times and durations. Running durations are refreshed in place by tickDurations().

const pad = (n) => String(n).padStart(2, '0');

export function parseTime(value) {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

export function fmtTime(value) {
  const t = parseTime(value);
  if (t === null) return '—';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtSeconds(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.floor(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

export function durationText(start, end) {
  const a = parseTime(start);
  if (a === null) return '—';
  const b = parseTime(end) ?? Date.now();
  return fmtSeconds(Math.max(0, (b - a) / 1000));
}

// A span showing a run's duration; a run without an end keeps counting (see tickDurations)
export function durationSpan(h, start, end) {
  const el = h('span', { class: 'duration' });
  setDuration(el, start, end);
  return el;
}

export function setDuration(el, start, end) {
  el.dataset.start = start || '';
  el.dataset.end = end || '';
  el.classList.toggle('ticking', Boolean(start && !end));
  const text = durationText(start, end);
  if (el.textContent !== text) el.textContent = text;
}

export function tickDurations(root = document) {
  for (const el of root.querySelectorAll('.duration.ticking')) setDuration(el, el.dataset.start, el.dataset.end);
}
