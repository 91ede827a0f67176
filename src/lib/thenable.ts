// Telling a promise from a value, across JavaScript realms.

/**
 * Whether `value` is a thenable: a Promise of this realm or of another (a
 * node:vm context, or an edge runtime whose `crypto.subtle` and `fetch` answer
 * with the host's Promises), or any other PromiseLike. `instanceof Promise`
 * is false for all but the first; `await` and `Promise.resolve` adopt them all.
 */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<T>).then === "function"
  );
}
