// The usage pipeline off the request path: decisions are queued (bounded),
// handed to `onDecision` hooks after the request's tick, and written to the
// store in batches by a real timer, when a batch is full, and on close.
import { StoreUnavailableError } from "../errors.js";
import { toBase64Url } from "../lib/bytes.js";
import { secureRandom } from "../lib/crypto.js";
import { callHook } from "../lib/hook.js";
import { clock, DROPPED_AFTER_MS, takenAsDropped, Ticker, TIMERS_DIE_WITH_REQUEST } from "../lib/timers.js";
import { answerWithin, outcomeWithin } from "../lib/within.js";
import type { UsageEvent } from "../model/types.js";
import type { UsageBatchKey } from "../store/types.js";
import type { DecisionEvent } from "./events.js";
import { ScopeBound } from "./scope-bound.js";

/** Counters of the usage pipeline, from `kw.usage.stats()`. */
export interface UsageQueueStats {
  /** Events waiting to be written (a failed batch's included). */
  queued: number;
  /** Events written to the store. */
  written: number;
  /**
   * Events dropped: the queue was full (`maxQueue`: the store could not keep
   * up), the store refused a batch as invalid, the final write of `close()`
   * failed, or the decision came after `close()`.
   */
  dropped: number;
  /** Store writes that failed (their events were queued again while there was room). */
  failedWrites: number;
  /** Decisions dropped before reaching `onDecision` hooks (their queue was full). */
  droppedHookEvents: number;
  /**
   * Events recorded under the scope `"(other)"`: their token had `usage.maxScopesPerMinute` distinct
   * scopes in their minute already.
   */
  scopesCapped: number;
}

/** What the usage pipeline is told when a store write fails. */
export interface UsageWriteError {
  /**
   * What the write failed with: the store's error, as keyward's store guard passes it on, or a
   * `STORE_UNAVAILABLE` error when the store did not answer within `usage.writeTimeoutMs`.
   */
  error: unknown;
  /** Events in the failed batch (on the final write of `close()`, every event left: all dropped). */
  events: number;
  /** Of them, queued again for the next flush (the rest were dropped and counted in `dropped`). */
  requeued: number;
}

/** A batch the store failed to take (its events queued again or dropped), and the store's error. */
interface FailedBatch {
  error: unknown;
  events: readonly UsageEvent[];
}

/** A batch that failed, written again before anything else under its number: the store adds it once. */
interface RetryBatch {
  events: UsageEvent[];
  seq: number;
}

export interface UsageQueueOptions {
  batchSize: number;
  /** Interval of the flush timer, ms; 0 flushes after every event. */
  flushIntervalMs: number;
  maxQueue: number;
  /** Distinct scopes a token's events are recorded under per UTC minute; its other events, under `"(other)"`. */
  maxScopesPerMinute: number;
  /** Told of the first token past `maxScopesPerMinute` in each minute. */
  onScopesCapped: (tokenId: string) => void;
  /** How long a write may wait for the store's answer, ms: then it fails (`STORE_UNAVAILABLE`) and its batch is written again. */
  writeTimeoutMs: number;
  /** Writes a batch; `batch` numbers it, so a store adds a batch written again (a lost reply) only once. */
  write: ((events: UsageEvent[], batch: UsageBatchKey) => Promise<void>) | null;
  /** Each receives every decision after the request's tick (`onDecision`, anomaly detection). */
  observers: readonly ((event: DecisionEvent) => unknown)[];
  /** Told of each failed write; a throw, or a rejection of the promise it answers, is its own. */
  onError: ((error: UsageWriteError) => unknown) | undefined;
  /**
   * Whether `console.warn` tells of the first failed write of each outage (after one that
   * succeeded) and of the events the final write of `close()` dropped: when the application
   * handles none itself (no `usage.onError`, no `telemetry.logger`), so that it is not silent.
   */
  warn: boolean;
}

/** How often writes are retried after one failed, when `flushIntervalMs` is 0 (else once per `flushIntervalMs`). */
const FAILED_WRITE_RETRY_MS = 1_000;

/** @internal */
export class UsageQueue {
  readonly #o: UsageQueueOptions;
  #queue: UsageEvent[] = [];
  /** The batch that failed last, kept whole (or what there was room for) and written first. */
  #retry: RetryBatch | null = null;
  /**
   * This queue's id as a usage writer: random (never the application's `random`, which a test
   * may make repeat: a writer taken for another's would have its batches skipped). Drawn at the
   * first write, not on construction: a Cloudflare Worker refuses random values in its global
   * scope, where an application builds its Keyward.
   */
  #writer: string | null = null;
  /** The number of the last batch taken from the queue. */
  #seq = 0;
  #hooks: DecisionEvent[] = [];
  #hookTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the hook timer was armed ({@link clock}). */
  #hookArmedAt = 0;
  /**
   * Writes what is queued every `flushIntervalMs`. A tick while a write is scheduled or waiting
   * starts none: on a store that answers slowly or not at all (each write waiting up to
   * writeTimeoutMs), every tick would queue one more write behind it, and a flush, kw.close() or a
   * billing run would wait for all of them. It keeps no process alive: close() writes what is left.
   */
  readonly #ticker: Ticker;
  #writing: Promise<void> = Promise.resolve();
  /** Drains chained on #writing and not yet finished: the timer starts none while one waits. */
  #pending = 0;
  /**
   * The batch being written, and when its write is due to have answered ({@link clock}). A
   * Cloudflare Worker drops the store's answer and the write's deadline with the request that
   * started the write, once that request has answered (without `ctx.waitUntil`): the write never
   * settles, and every write chained after it would wait for ever. There a later call that finds it
   * long past due ({@link takenAsDropped}) takes it back ({@link #reclaim}). Nowhere else: an event
   * loop stalled past the deadline (a long GC, a synchronous SQLite wait) still runs the write's
   * deadline, and the write may be running still (taken back, it would be written again beside
   * it, and `close()` would not wait for it).
   */
  #inflight: { events: UsageEvent[]; seq: number; due: number } | null = null;
  /** Bumped by {@link #reclaim}: drains and chained writes of an earlier generation are left behind. */
  #generation = 0;
  /** A write started by push is scheduled or running: it takes what later pushes add. */
  #kicked = false;
  /**
   * The last write failed: until one succeeds, pushes start no write (the
   * timer retries, once per `flushIntervalMs`, or per {@link FAILED_WRITE_RETRY_MS}
   * when it is 0), so a store that fails at once is not sent a write every
   * few requests, nor `onError` called as often.
   */
  #failing = false;
  /**
   * Whether the default warning told of a failed write since the last one that succeeded: a store
   * refusing every batch as INVALID_INPUT (each dropped, none retried) warns once, not per batch.
   */
  #warned = false;
  #closed = false;
  readonly #stats = { written: 0, dropped: 0, failedWrites: 0, droppedHookEvents: 0, scopesCapped: 0 };
  readonly #scopes: ScopeBound;

  constructor(options: UsageQueueOptions) {
    this.#o = options;
    this.#scopes = new ScopeBound(options.maxScopesPerMinute);
    this.#ticker = new Ticker(options.flushIntervalMs || FAILED_WRITE_RETRY_MS, () => {
      this.#reclaim();
      if (this.#pending === 0) this.flush().catch(() => {});
    });
  }

  #writerId(): string {
    this.#writer ??= toBase64Url(secureRandom(12));
    return this.#writer;
  }

  /** Whether anything listens: when false, the request path builds no event. */
  get active(): boolean {
    return this.#o.write !== null || this.#o.observers.length > 0;
  }

  /** Takes a decision; never blocks and never throws. */
  push(event: DecisionEvent): void {
    const o = this.#o;
    if (o.observers.length > 0) {
      // Hooks receive the very object that is written: frozen, so a hook that
      // edits what it is given (formats `at`, renames `owner`) changes neither
      // the usage, the bill nor what the next observer sees.
      Object.freeze(event);
      // A hook timer still armed long after it was due was dropped by the runtime (a Worker's
      // request answered first): the decisions it waited for are delivered now, before this one.
      if (this.#hookTimer !== null && takenAsDropped(this.#hookArmedAt)) this.#deliverNow();
      if (this.#hooks.length >= o.maxQueue) this.#stats.droppedHookEvents++;
      else {
        this.#hooks.push(event);
        if (this.#hookTimer === null) {
          this.#hookArmedAt = clock();
          this.#hookTimer = setTimeout(() => this.#deliver(), 0);
        }
      }
    }
    if (o.write === null || event.tokenId === null) return;
    // After close() nothing writes it any more: dropped, and counted.
    if (this.#closed || this.#queue.length + (this.#retry?.events.length ?? 0) >= o.maxQueue) {
      this.#stats.dropped++;
      return;
    }
    // A decision event of an identified token is a usage event: queued as is, no copy (but for one whose
    // token is past its bound of scopes this minute: a copy under "(other)", the hooks' event left as it is).
    const scope = this.#scopes.scopeOf(event.tokenId, event.at, event.scope, o.onScopesCapped);
    if (scope === event.scope) this.#queue.push(event as UsageEvent);
    else {
      this.#stats.scopesCapped++;
      this.#queue.push({ ...(event as UsageEvent), scope });
    }
    if (!this.#failing && (o.flushIntervalMs === 0 || this.#queue.length >= o.batchSize)) this.#kick();
    else this.#ticker.ensure();
  }

  /**
   * Schedules one write for what push queued, unless one is scheduled or
   * running already (it will take what is added meanwhile): one scheduled
   * write per push would each write the few events queued since the last,
   * a store round trip per couple of requests once requests arrive faster
   * than a batch is written. It writes full batches only (everything with
   * `flushIntervalMs: 0`); the timer writes the rest.
   */
  #kick(): void {
    // A kicked write cut off by a Worker leaves the flag set: taken back first, or no push would start one again.
    this.#reclaim();
    if (this.#kicked) return;
    this.#kicked = true;
    this.#chain(() => this.#drain(this.#o.flushIntervalMs !== 0, true));
  }

  /**
   * Runs `drain` after the writes chained before it; resolves what it resolves. When those were
   * cut off by a Worker (see {@link #after}), it runs in a new chain, the write under way taken
   * back; when that happened meanwhile, too.
   */
  #chain(drain: () => Promise<FailedBatch | null>): Promise<FailedBatch | null> {
    this.#reclaim();
    const generation = this.#generation;
    this.#pending++;
    const done = this.#after(this.#writing, generation)
      .then((cutOff) => {
        if (cutOff && generation === this.#generation) this.#restart();
        else this.#reclaim();
        return generation === this.#generation ? drain() : this.#chain(drain);
      })
      .finally(() => {
        if (generation === this.#generation) this.#pending--;
      });
    this.#writing = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  /**
   * Resolves when the writes chained before have ended (`#writing` itself never rejects), however
   * long a drain of many batches takes: true when the runtime cut them off. In a Worker, a promise
   * of a request that has ended rejects where another request waits for it (at older
   * compatibility dates, it never settles): it resolves then too, once the write under way is
   * long past its deadline and can be taken back, or when the chain was left behind meanwhile.
   * Elsewhere each write ends by its deadline, however late a stalled event loop runs it: the
   * chain is waited for.
   */
  #after(previous: Promise<void>, generation: number): Promise<boolean> {
    const cut = this.#inflight;
    if (cut === null || !TIMERS_DIE_WITH_REQUEST) {
      return previous.then(
        () => false,
        () => true,
      );
    }
    return outcomeWithin(previous, Math.max(0, cut.due + DROPPED_AFTER_MS - clock()) + 1).then((ended) => {
      if (ended !== "late") return ended === "rejected";
      const now = this.#inflight;
      if (generation !== this.#generation || (now !== null && takenAsDropped(now.due))) return false;
      // A later batch of the same drain is under way, in time: waited for in turn.
      return this.#after(previous, generation);
    });
  }

  #deliverNow(): void {
    if (this.#hookTimer === null) return;
    clearTimeout(this.#hookTimer);
    this.#deliver();
  }

  #deliver(): void {
    this.#hookTimer = null;
    const batch = this.#hooks;
    this.#hooks = [];
    for (const e of batch) {
      // A hook's failure is its own: it never reaches a request or the other hooks.
      for (const observe of this.#o.observers) callHook(observe, e);
    }
  }

  /**
   * Hands pending decisions to the observers, then writes what is queued, one batch at a time
   * (not what requests queue meanwhile: the next flush writes it); resolves when written (or
   * failed and reported).
   */
  flush(): Promise<void> {
    return this.#flush().then(() => {});
  }

  /**
   * {@link flush}, for a caller that must not go on without the events
   * before `until` (a billing run): rejects when the store failed a batch
   * holding one of them (queued again or dropped), or when one is still
   * queued after it.
   *
   * @throws {StoreUnavailableError} `STORE_UNAVAILABLE`, with the store's error as `cause`
   */
  async flushBefore(until: number): Promise<void> {
    const before = (e: UsageEvent) => e.at < until;
    let failed = await this.#flush();
    // An event before `until` queued once that flush had begun (its request was still metered then)
    // is written by another; a few at most, so a clock that steps back cannot keep it going.
    for (let pass = 0; pass < 3 && failed === null && this.#queue.some(before); pass++) failed = await this.#flush();
    if (failed?.events.some(before) || this.#queue.some(before) || this.#retry?.events.some(before)) {
      throw new StoreUnavailableError("the store did not take the queued usage events", failed ? { cause: failed.error } : undefined);
    }
  }

  /** Delivers pending hook events, then drains the queue after the writes before it; resolves the batch that failed, if one did. */
  #flush(): Promise<FailedBatch | null> {
    this.#deliverNow();
    return this.#chain(() => this.#drain(false, false));
  }

  /**
   * Writes the batches queued when it starts (the full ones, with `fullOnly`), the batch that
   * failed last first; stops at a batch that fails, and resolves it. Only those: requests queue
   * more while a batch is written, and a drain that took them too would never end under steady
   * traffic (nor a flush, `kw.close()` or a billing run waiting for it).
   */
  async #drain(fullOnly: boolean, kicked: boolean): Promise<FailedBatch | null> {
    const generation = this.#generation;
    const write = this.#o.write;
    let left = this.#queue.length;
    let failed: FailedBatch | null = null;
    try {
      if (write === null) return null;
      while (this.#retry !== null || left >= (fullOnly ? this.#o.batchSize : 1)) {
        let batch: UsageEvent[];
        let seq: number;
        if (this.#retry !== null) ({ events: batch, seq } = this.#retry);
        else {
          batch = this.#queue.splice(0, Math.min(this.#o.batchSize, left));
          left -= batch.length;
          seq = ++this.#seq;
        }
        this.#retry = null;
        this.#inflight = { events: batch, seq, due: clock() + this.#o.writeTimeoutMs };
        try {
          // Unanswered in time, the queue goes on, and the batch is written again under its number
          // (a store adds it once, even when the abandoned write commits later).
          await answerWithin(write(batch, { writer: this.#writerId(), seq }), this.#o.writeTimeoutMs, "a usage write");
          // Taken back meanwhile (a Worker's: see #inflight): the new chain has the batch.
          if (generation !== this.#generation) return null;
          this.#stats.written += batch.length;
          this.#failing = false;
          this.#warned = false;
        } catch (error) {
          if (generation !== this.#generation) return null;
          failed = this.#failed(batch, seq, error);
          return failed;
        } finally {
          if (generation === this.#generation) this.#inflight = null;
        }
      }
      return null;
    } finally {
      if (kicked && generation === this.#generation) {
        // The flag drops in the same step as the last look at the queue: what was pushed meanwhile
        // gets a write of its own (after a failure, the next push or flush retries).
        this.#kicked = false;
        if (failed === null && this.#queue.length >= (this.#o.flushIntervalMs === 0 ? 1 : this.#o.batchSize)) this.#kick();
      }
    }
  }

  /** Counts a failed write of `batch`, queues it again first (where there is room) and tells onError. */
  #failed(batch: UsageEvent[], seq: number, error: unknown): FailedBatch {
    this.#stats.failedWrites++;
    // The final write of close(): no later flush would take what is left, so all of it is dropped.
    if (this.#closed) batch.push(...this.#queue.splice(0));
    const room = Math.max(0, this.#o.maxQueue - this.#queue.length);
    // A batch the store refuses as invalid would be refused again: dropped, not retried.
    const code = (error as { code?: unknown })?.code;
    const retry = !this.#closed && code !== "INVALID_INPUT";
    const requeued = retry ? Math.min(room, batch.length) : 0;
    if (this.#o.warn && (!this.#warned || this.#closed)) {
      this.#warned = true;
      // Only the code: a driver's message may quote what the application stored.
      console.warn(
        `keyward: a usage write failed (${typeof code === "string" ? code : "no code"}; events: ${batch.length}, queued again: ${requeued}, ` +
          `dropped: ${batch.length - requeued}). Usage is not recorded while the store fails writes. Set usage.onError (or ` +
          "telemetry.logger) to handle this; without them, this warning shows once per outage.",
      );
    }
    // A batch refused as invalid says nothing of the store: the next one is written as usual.
    this.#failing = retry;
    // Written again under its number (the store may have taken it: a reply lost), before anything else.
    if (requeued > 0) this.#retry = { events: batch.slice(0, requeued), seq };
    this.#stats.dropped += batch.length - requeued;
    callHook(this.#o.onError, { error, events: batch.length, requeued });
    return { error, events: batch };
  }

  /**
   * Takes back a write long past its deadline, whose answer and deadline timer the runtime dropped
   * (see {@link #inflight}; only where timers die with their request): failed as one unanswered in
   * time, its batch written again first under its number, and the chain it held up left behind.
   */
  #reclaim(): void {
    const cut = this.#inflight;
    if (cut !== null && takenAsDropped(cut.due)) this.#restart();
  }

  /** Leaves the chain of writes behind for a new one; the write under way, cut off, fails and is written again first. */
  #restart(): void {
    const cut = this.#inflight;
    this.#inflight = null;
    this.#generation++;
    this.#writing = Promise.resolve();
    this.#pending = 0;
    this.#kicked = false;
    if (cut !== null) this.#failed(cut.events, cut.seq, new StoreUnavailableError(`the store did not answer a usage write within ${this.#o.writeTimeoutMs} ms`));
  }

  stats(): UsageQueueStats {
    return { queued: this.#queue.length + (this.#retry?.events.length ?? 0), ...this.#stats };
  }

  /**
   * Stops the timer, delivers pending hook events (flush does) and writes
   * what is queued: a failed write is retried once, then what is left is
   * dropped and counted (no timer would retry it). Decisions after it are
   * dropped and counted.
   */
  async close(): Promise<void> {
    this.#ticker.stop();
    await this.flush();
    this.#closed = true;
    if (this.#queue.length > 0 || this.#retry !== null) await this.flush();
  }
}

