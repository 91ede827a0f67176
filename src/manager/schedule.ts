// Effective-dated revisions, shared by token and account policies.
import { InvalidInputError } from "../errors.js";
import { policyAt } from "../model/record.js";

/**
 * Most revisions a token's or an account's policy may have pending (future
 * `effectiveAt`). Each holds a whole policy and is read with the record on
 * every request, so their number is bounded like every other list of a record.
 */
export const MAX_SCHEDULED = 16;

/** A record with a base policy and future revisions, ascending by `effectiveAt`. */
export interface Revised<P extends object> {
  policy: P;
  scheduled: { effectiveAt: number; policy: P }[];
}

/**
 * Schedules `patch` from `effectiveAt` on: due revisions are folded into the
 * base policy, the policy in force at `effectiveAt` gets the patch as a new
 * revision, and every later revision gets it too.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` naming `effectiveAt` when a new revision would make more than {@link MAX_SCHEDULED} pending
 */
export function scheduleRevision<P extends object>(item: Revised<P>, patch: Partial<P>, effectiveAt: number, now: number): Revised<P> {
  const base = policyAt(item, now);
  const future = item.scheduled.filter((s) => s.effectiveAt > now);
  if (Object.keys(patch).length === 0) return { policy: base, scheduled: future };
  if (effectiveAt <= now) {
    return {
      policy: { ...base, ...patch },
      scheduled: future.map((s) => ({ effectiveAt: s.effectiveAt, policy: { ...s.policy, ...patch } })),
    };
  }
  const before = future.filter((s) => s.effectiveAt < effectiveAt);
  const after = future.filter((s) => s.effectiveAt > effectiveAt);
  // A revision at the same instant is replaced; only a new instant adds one.
  if (before.length + after.length === future.length && future.length >= MAX_SCHEDULED) {
    throw new InvalidInputError(
      "effectiveAt",
      `at most ${MAX_SCHEDULED} changes may be pending: apply this one at an instant already scheduled or now, or wait until one takes effect`,
    );
  }
  const atT = policyAt({ policy: base, scheduled: future }, effectiveAt);
  return {
    policy: base,
    scheduled: [
      ...before,
      { effectiveAt, policy: { ...atT, ...patch } },
      ...after.map((s) => ({ effectiveAt: s.effectiveAt, policy: { ...s.policy, ...patch } })),
    ],
  };
}
