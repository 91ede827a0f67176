// A background write's answer, bounded in time.
import { StoreUnavailableError } from "../errors.js";
import { afterIo, unref } from "./timers.js";

/**
 * `call`'s answer, or `STORE_UNAVAILABLE` once `ms` passed without it (a
 * frozen server, a connection gone silent): whoever waits goes on. An answer
 * that came by then wins, even when a stalled event loop runs the timer before
 * it has seen that answer ({@link afterIo}). The call itself is not cancelled
 * (it may still be applied later), and its timer does not keep the process
 * alive (the call does, as long as it needs to).
 *
 * @param what - the call, as the error names it ("a usage write")
 * @param lateError - the error to reject with instead, when the caller has its own; called only when the
 *   answer is late (never for a call that settled by then), so it may act on that (report, retire)
 */
export function answerWithin<T>(call: Promise<T>, ms: number, what: string, lateError?: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Whether the call has settled: one that did after the timer fired, before afterIo's turn, won the race, and
  // `lateError` (which a caller may give side effects: a late failure's report, a lease marked unanswered) is not called.
  let settled = false;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        afterIo(() => {
          if (!settled) reject(lateError?.() ?? new StoreUnavailableError(`the store did not answer ${what} within ${ms} ms`));
        }),
      ms,
    );
    unref(timer);
  });
  const answered = call.finally(() => {
    settled = true;
  });
  return Promise.race([answered, late]).finally(() => clearTimeout(timer));
}

/**
 * How `work` ended, if it did within `ms`: `"late"` once `ms` passed first. For work a Cloudflare
 * Worker may have cut off with the request that started it, answered first: such a promise
 * rejects where another request waits for it (at older compatibility dates, it never settles).
 * Work that ended by then is not late, even when a stalled event loop runs the timer first
 * ({@link afterIo}). Its timer does not keep the process alive.
 */
export function outcomeWithin(work: Promise<unknown>, ms: number): Promise<"resolved" | "rejected" | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => afterIo(() => resolve("late")), ms);
    unref(timer);
  });
  const ended = work.then(
    () => "resolved" as const,
    () => "rejected" as const,
  );
  return Promise.race([ended, late]).finally(() => clearTimeout(timer));
}
