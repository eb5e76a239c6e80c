// The status line in the header (a polite live region).
export function setStatus(text, isError = false) {
  const el = document.getElementById('status');
  if (!el) return;
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle('error', isError);
}
