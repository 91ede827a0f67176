// Deadlines of the store calls on the request path: a call that waits longer
// than the bound is abandoned, so a hung store denies (STORE_UNAVAILABLE)
// instead of hanging requests. Every call of one list has the same timeout,
// so deadlines ascend in start order: the calls that wait are kept in a
// linked list, a settled one is unlinked in O(1), and one timer is armed for
// the oldest deadline; when it fires it abandons what is overdue and re-arms
// for the next one. A steady stream of quick calls costs one timer per
// timeout, not one per call. Except in a Cloudflare Worker, where a timer
// dies with the request that armed it: a call that came while the timer of an
// earlier request was pending would wait for a timer that never fires. There
// each call has a timer of its own, cleared when it settles.
import { afterIo, clock, DROPPED_AFTER_MS, TIMERS_DIE_WITH_REQUEST } from "../lib/timers.js";

/** A call in the list: its deadline and its neighbours. */
export class Waiting {
  /** Time (see {@link clock}) after which the call is abandoned. */
  deadline = 0;
  prev: Waiting | null = null;
  next: Waiting | null = null;
  /** False once settled or abandoned. */
  pending = true;
  /** Its own timer, where timers die with their request ({@link TIMERS_DIE_WITH_REQUEST}). */
  timer: ReturnType<typeof setTimeout> | null = null;
}

/** A call of {@link Deadlines.race}: it resolves its caller's promise once. */
class Raced<R> extends Waiting {
  constructor(
    readonly resolve: (value: R) => void,
    readonly failed: () => R,
  ) {
    super();
  }
}

type Timer = ReturnType<typeof setTimeout>;
const ref = (t: Timer | null, on: boolean) => {
  const h = t as { ref?: () => void; unref?: () => void } | null;
  if (h !== null && typeof h === "object") (on ? h.ref : h.unref)?.call(h);
};

/** The calls waiting for one timeout, with one timer. */
export class Deadlines<E extends Waiting = Waiting> {
  readonly #timeoutMs: number;
  readonly #abandon: (entry: E) => void;
  #head: E | null = null;
  #tail: E | null = null;
  #timer: Timer | null = null;
  /** Timers armed since creation (for tests). */
  timersArmed = 0;

  /**
   * @param timeoutMs - How long a call may wait.
   * @param abandon - Called with each overdue call, after it left the list.
   */
  constructor(timeoutMs: number, abandon: (entry: E) => void) {
    this.#timeoutMs = timeoutMs;
    this.#abandon = abandon;
  }

  /** Starts the clock of a call. */
  add(entry: E): void {
    const t = clock();
    entry.deadline = t + this.#timeoutMs;
    const tail = this.#tail;
    entry.prev = tail;
    if (tail === null) this.#head = entry;
    else tail.next = entry;
    this.#tail = entry;
    if (TIMERS_DIE_WITH_REQUEST) {
      // A call this long past its deadline lost its timer with its request (one cancelled
      // mid-lookup, whose answer never comes): abandoned now, not kept in the list for ever.
      for (let e = this.#head; e !== null && t - e.deadline > DROPPED_AFTER_MS; e = this.#head) {
        this.settle(e);
        this.#abandon(e);
      }
      this.timersArmed++;
      entry.timer = setTimeout(() => {
        if (this.settle(entry)) this.#abandon(entry);
      }, this.#timeoutMs);
    } else if (this.#timer === null) this.#arm(this.#timeoutMs);
    else if (tail === null) ref(this.#timer, true);
  }

  /** Unlinks a call that settled; false when it was already settled or abandoned. */
  settle(entry: E): boolean {
    if (!entry.pending) return false;
    entry.pending = false;
    const prev = entry.prev as E | null;
    const next = entry.next as E | null;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = null;
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    // Nothing waits: the armed timer no longer keeps the process alive.
    if (this.#head === null) ref(this.#timer, false);
    return true;
  }

  /** Calls waiting. */
  get waiting(): number {
    let n = 0;
    for (let e = this.#head; e !== null; e = e.next as E | null) n++;
    return n;
  }

  /** The timer: abandons every overdue call, then re-arms for the oldest one left. */
  #expire(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const t = clock();
    for (let e = this.#head; e !== null && e.deadline <= t; e = this.#head) {
      this.settle(e);
      this.#abandon(e);
    }
    if (this.#head !== null) this.#arm(Math.max(1, Math.ceil(this.#head.deadline - t)));
  }

  #arm(ms: number): void {
    this.timersArmed++;
    // After an event loop stall the timer runs before the I/O callbacks of the answers that came
    // meanwhile: it abandons what is overdue once they have had their turn ({@link afterIo}).
    this.#timer = setTimeout(() => afterIo(() => this.#expire()), ms);
  }
}

/**
 * The store calls of the request path whose answer becomes a decision: each
 * gives `done(answer)`, or `failed()` when the store fails, or when it has
 * not answered within the timeout (its answer is then ignored). One promise
 * per call, as `.then(done).catch(failed)` would make.
 */
export class DeadlineRace {
  readonly #deadlines: Deadlines<Raced<unknown>>;

  constructor(timeoutMs: number) {
    this.#deadlines = new Deadlines<Raced<unknown>>(timeoutMs, (e) => e.resolve(e.failed()));
  }

  /** `done` of the call's answer, or `failed()` on an error, a throw of `done`, or the deadline. */
  race<T, R>(call: () => PromiseLike<T>, done: (answer: T) => R, failed: () => R): Promise<R> {
    return new Promise<R>((resolve) => {
      const entry = new Raced<R>(resolve, failed);
      const deadlines = this.#deadlines as unknown as Deadlines<Raced<R>>;
      let answer: PromiseLike<T>;
      try {
        answer = call();
      } catch {
        resolve(failed());
        return;
      }
      deadlines.add(entry);
      answer.then(
        (v) => {
          if (!deadlines.settle(entry)) return;
          let r: R;
          try {
            r = done(v);
          } catch {
            r = failed();
          }
          resolve(r);
        },
        () => {
          if (deadlines.settle(entry)) resolve(failed());
        },
      );
    });
  }

  /** Calls waiting. */
  get waiting(): number {
    return this.#deadlines.waiting;
  }
}
