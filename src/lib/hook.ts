// Calling the application's fire-and-forget hooks.
import { isThenable } from "./thenable.js";

const ignore = (): void => {};

/**
 * Calls an application hook whose answer nobody waits for: a throw, and a
 * rejection of the promise an `async` hook returns, are the hook's own, never
 * the caller's (a rejection left unhandled would end a Node process).
 *
 * @param hook - the hook, or undefined for none
 * @param args - what it is given
 */
export function callHook<A extends unknown[]>(hook: ((...args: A) => unknown) | undefined, ...args: A): void {
  if (hook === undefined) return;
  try {
    const answer = hook(...args);
    if (isThenable(answer)) answer.then(undefined, ignore);
  } catch {
    // The hook's failure is its own.
  }
}
