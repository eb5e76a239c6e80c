// Refresh a view every `interval` ms: never two requests at once, paused while the tab is hidden.
import { setStatus } from './status.js';

export function poll(refresh, interval = 1500) {
  let timer = null;
  let running = false;
  let again = false;
  let stopped = false;

  async function tick() {
    clearTimeout(timer);
    if (stopped) return;
    if (running) { again = true; return; }
    running = true;
    try {
      if (!document.hidden) {
        await refresh();
        setStatus(`Live · updated ${new Date().toLocaleTimeString()}`);
      }
    } catch (error) {
      setStatus(`Could not refresh: ${error.message}`, true);
    } finally {
      running = false;
    }
    timer = setTimeout(tick, again ? 0 : interval);
    again = false;
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
  tick();
  return { now: tick, stop: () => { stopped = true; clearTimeout(timer); } };
}
