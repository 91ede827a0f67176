// Pure functions over stored tokens: which policy is in force when, and the
// public view of a record.
import type { ScheduledPolicy, StoredToken, TokenPolicy, TokenRecord } from "./types.js";

/** Public token ids: `tok_` and 22 base62 characters. */
export const TOKEN_ID_PATTERN = /^tok_[0-9A-Za-z]{22}$/;

/** Whether `id` has the form of a token id (checked before any store access). */
export function isTokenId(id: unknown): id is string {
  return typeof id === "string" && TOKEN_ID_PATTERN.test(id);
}

/** Every lookup hash of a token: the current secret's and those of previous secrets. */
export function hashesOf(token: Pick<StoredToken, "hash" | "previous">): string[] {
  return [token.hash, ...token.previous.map((p) => p.hash)];
}

/**
 * The policy in force at `now`: the latest scheduled revision whose
 * `effectiveAt` has passed, else the base policy.
 *
 * @param token a stored token
 * @param now epoch ms
 * @returns the policy that decides requests at `now`
 */
export function policyAt<P = TokenPolicy>(token: { policy: P; scheduled: readonly { effectiveAt: number; policy: P }[] }, now: number): P {
  let policy = token.policy;
  const scheduled = token.scheduled;
  // Indexed, not for-of: this runs on every request, and allocates nothing.
  for (let i = 0; i < scheduled.length && scheduled[i]!.effectiveAt <= now; i++) policy = scheduled[i]!.policy;
  return policy;
}

/**
 * The time to read a record at on a server whose clock says `now`: the later
 * of `now` and the record's last write (`updatedAt`, the writer's clock), so
 * that what the writer already held for past (a revocation, an expiry set to
 * "now", a due revision, the end of a grace period) stays past on a server
 * whose clock is behind the writer's.
 */
export function readTime(record: { updatedAt: number }, now: number): number {
  return Math.max(now, record.updatedAt);
}

/** The revisions still to come at `now`. */
export function pendingAt(scheduled: readonly ScheduledPolicy[], now: number): ScheduledPolicy[] {
  return scheduled.filter((s) => s.effectiveAt > now);
}

/** The public view of a stored token at `now`: no hash, no sealed key. */
export function toRecord(token: StoredToken, now: number): TokenRecord {
  const grace = token.previous.filter((p) => p.expiresAt > now);
  return {
    id: token.id,
    start: token.start,
    kind: token.kind,
    env: token.env,
    owner: token.owner,
    name: token.name,
    metadata: structuredClone(token.metadata),
    policy: structuredClone(policyAt(token, now)),
    scheduled: structuredClone(pendingAt(token.scheduled, now)),
    signing:
      token.signing === null
        ? null
        : token.signing.alg === "ed25519"
          ? { alg: "ed25519", publicKey: token.signing.publicKey }
          : { alg: "hmac-sha256" },
    graceUntil: grace.length ? Math.max(...grace.map((p) => p.expiresAt)) : null,
    createdAt: token.createdAt,
    updatedAt: token.updatedAt,
    revokedAt: token.revokedAt,
    disabledAt: token.disabledAt ?? null,
    revision: token.revision,
  };
}
