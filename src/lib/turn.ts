// Yielding to the event loop: a long read of a synchronous store (node:sqlite)
// runs in steps, and between two of them every other callback (requests, timers)
// gets its turn.

/** Resolves on a later turn of the event loop, after pending I/O callbacks (`setImmediate`; `setTimeout` where there is none). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === "function") setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
