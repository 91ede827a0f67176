// Timers for work off the request path (usage writes, shared anomaly state,
// store deadlines), in every runtime keyward runs in.
//
// Two runtimes differ from Node here. Browsers and Workers hand out numeric
// timer ids, with no `unref`: nothing there is kept alive by a timer anyway.
// And a Cloudflare Worker drops the timers a request armed once that request
// has answered (unless `ctx.waitUntil` keeps it open): such a timer never
// fires, and code that waits for it to re-arm waits forever. So whoever arms a
// timer also notes when it is due, and there takes one that is later than
// DROPPED_AFTER_MS as dropped ({@link takenAsDropped}): it does the timer's
// work itself and arms anew. Elsewhere a late timer is only late: an event
// loop stalled by a loaded machine, a long GC or a synchronous SQLite wait
// (up to its busy timeout) runs it seconds late, while the work it bounds may
// still be running.

/**
 * Monotonic ms, for deadlines, the ages of cached entries and timers (the
 * wall clock where there is no `performance`): a wall clock stepped back
 * (NTP, a VM resumed) does not stretch them.
 */
export const clock: () => number =
  typeof globalThis.performance?.now === "function" ? () => globalThis.performance.now() : () => Date.now();

/**
 * How late past its due time a timer may be before it is taken as dropped by
 * a runtime whose timers die with their request ({@link takenAsDropped}). A
 * live event loop can be later than this (a long GC, a synchronous SQLite
 * wait), so nowhere else is a late timer taken as dropped.
 */
export const DROPPED_AFTER_MS = 1_000;

/** The longest wait a timer takes: 2^31 - 1 ms, about 24.8 days (a longer one fires at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Whether a timer dies with the request that armed it: in a Cloudflare Worker
 * (workerd, whose `navigator.userAgent` says so) a timer armed by a request
 * that has answered never fires, even while later requests wait for it. There
 * a deadline is a timer of the request that waits, never one shared with
 * another request.
 */
export const TIMERS_DIE_WITH_REQUEST: boolean = globalThis.navigator?.userAgent === "Cloudflare-Workers";

/**
 * Whether a timer (or the deadline of a call) due at `due` ({@link clock}) is
 * taken as dropped by the runtime: only where timers die with their request
 * ({@link TIMERS_DIE_WITH_REQUEST}), once more than {@link DROPPED_AFTER_MS}
 * past due. Elsewhere a timer fires however late, and what it bounds (a store
 * write) may be running still: it is never taken back then.
 */
export function takenAsDropped(due: number): boolean {
  return TIMERS_DIE_WITH_REQUEST && clock() - due > DROPPED_AFTER_MS;
}

/**
 * Runs `fn` once the event loop has had a turn for I/O. An event loop stalled
 * past a deadline (a loaded machine, a long GC, a synchronous SQLite wait) runs
 * the deadline's timer before the I/O callbacks of the answers that came during
 * the stall: a deadline looks once more after them, and an answer that came in
 * time is not taken for a silent store. Where there is no `setImmediate`, a
 * timer of 0 ms comes after those callbacks too.
 */
export function afterIo(fn: () => void): void {
  if (typeof globalThis.setImmediate === "function") globalThis.setImmediate(fn);
  else setTimeout(fn, 0);
}

/** Lets the process exit while the timer is armed, where the runtime can (Node, Deno, Bun). */
export function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * A repeating timer that keeps no process alive and survives a runtime that
 * drops it: {@link ensure}, called whenever there is work for it, arms it,
 * or, when it missed its ticks, ticks at once and arms it anew (so the work of
 * a Worker's earlier request is done during a later one).
 */
export class Ticker {
  readonly #ms: number;
  readonly #tick: () => void;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** When the timer is next due ({@link clock}). */
  #due = 0;

  /**
   * @param ms - the interval
   * @param tick - the work; never throws
   */
  constructor(ms: number, tick: () => void) {
    this.#ms = ms;
    this.#tick = tick;
  }

  /** Arms the timer unless it is armed; one dropped by the runtime ticks now and is armed anew. */
  ensure(): void {
    if (this.#timer !== null) {
      if (!takenAsDropped(this.#due)) return;
      this.stop();
      this.#tick();
    }
    this.#due = clock() + this.#ms;
    this.#timer = setInterval(() => {
      this.#due = clock() + this.#ms;
      this.#tick();
    }, this.#ms);
    unref(this.#timer);
  }

  /** Disarms the timer. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
