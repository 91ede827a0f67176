// Effective-dated revisions, shared by token and account policies.
import { policyAt } from "../model/record.js";

/** A record with a base policy and future revisions, ascending by `effectiveAt`. */
export interface Revised<P extends object> {
  policy: P;
  scheduled: { effectiveAt: number; policy: P }[];
}

/**
 * Schedules `patch` from `effectiveAt` on: due revisions are folded into the
 * base policy, the policy in force at `effectiveAt` gets the patch as a new
 * revision, and every later revision gets it too.
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
