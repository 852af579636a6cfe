// Signals for the examples' select() loops. select() blocks this thread, and
// Node runs signal handlers only from its event loop, so a server loop must
// (1) wait with a finite timeout and (2) give the event loop a turn between
// waits (`await turn()`). `await sel.wait()` (see echo-async) needs neither:
// it never blocks the event loop.

/** The longest a select() loop waits before it looks at signals again (ms). */
export const SIGNAL_CHECK_MS = 250;

/** Returns an object whose `stopping` becomes true on SIGINT or SIGTERM. */
export function stopOnSignals() {
  /** @type {{ stopping: boolean, signal: NodeJS.Signals | null }} */
  const state = { stopping: false, signal: null };
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.on(sig, () => {
      state.stopping = true;
      state.signal = sig;
    });
  }
  return state;
}

/** Lets Node's event loop run once (signal handlers, mostly). */
export const turn = () => new Promise((resolve) => setImmediate(resolve));
