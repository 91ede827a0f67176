// Token lifetimes and rotation, for the whole application: the expiry a
// create gets by default, the latest expiry a write may set, when a token is
// due for rotation, and the events a scan reports. Pure functions of the
// record, the options and `now`: no timer per token (the application or the
// CLI runs `kw.tokens.scan` when it likes, e.g. once a day).
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, LifetimeExceededError } from "../errors.js";
import { policyAt } from "../model/record.js";
import type { StoredToken, TokenRecord } from "../model/types.js";

type Lifetimes = ResolvedConfig["tokens"];

/** What `kw.tokens.scan` reports about one token. */
export interface LifecycleEvent {
  /**
   * `expired`: past its expiry (and not revoked); `expiring-soon`: expires
   * within `tokens.expiringSoonMs`; `rotation-due`: its secret is older than
   * `tokens.rotationPeriodMs`.
   */
  type: "expired" | "expiring-soon" | "rotation-due";
  tokenId: string;
  owner: string;
  /** When it expires / expired, or when rotation became due, epoch ms. */
  at: number;
}

/** Filters of `kw.tokens.list`, applied to each page (a page may hold fewer than `limit` records; follow `nextCursor`). */
export interface LifecycleFilter {
  /** Only tokens that expire before this time (epoch ms), never-expiring ones excluded. */
  expiringBefore?: number;
  /** Only tokens due for rotation now (needs `tokens.rotationPeriodMs`). */
  dueForRotation?: boolean;
}

/** When the token's current secret was issued: its last regeneration, else its creation. */
export function secretIssuedAt(t: Pick<StoredToken, "createdAt" | "rotatedAt">): number {
  return t.rotatedAt ?? t.createdAt;
}

/**
 * The expiry a create stores: the given one, else `now + defaultLifetimeMs`;
 * checked against `maxLifetimeMs`.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED` beyond the maximum, or without expiry while one is set
 */
export function expiryOnCreate(given: number | null | undefined, lifetimes: Lifetimes, now: number): number | null {
  const expiresAt = given === undefined ? (lifetimes.defaultLifetimeMs === null ? null : now + lifetimes.defaultLifetimeMs) : given;
  checkExpiry(expiresAt, lifetimes, now);
  return expiresAt;
}

/**
 * An expiry a write sets must not be later than `now + maxLifetimeMs`, and
 * must exist when a maximum is configured.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED`
 */
export function checkExpiry(expiresAt: number | null, lifetimes: Lifetimes, now: number): void {
  const max = lifetimes.maxLifetimeMs;
  if (max === null) return;
  const maxExpiresAt = now + max;
  if (expiresAt === null || expiresAt > maxExpiresAt) {
    const message =
      expiresAt === null
        ? "must be set: tokens.maxLifetimeMs allows no token without an expiry"
        : "is beyond tokens.maxLifetimeMs from now";
    throw new LifetimeExceededError("expiresAt", message, undefined, { limit: "tokens.maxLifetimeMs", maxExpiresAt });
  }
}

/** When rotation is or becomes due, or null without a rotation period. */
export function rotationDueAt(t: Pick<StoredToken, "createdAt" | "rotatedAt">, lifetimes: Lifetimes): number | null {
  return lifetimes.rotationPeriodMs === null ? null : secretIssuedAt(t) + lifetimes.rotationPeriodMs;
}

/** The events of one token at `now`; a revoked token has none. */
export function lifecycleEvents(t: StoredToken, lifetimes: Lifetimes, now: number): LifecycleEvent[] {
  if (t.revokedAt !== null) return [];
  const out: LifecycleEvent[] = [];
  const base = { tokenId: t.id, owner: t.owner };
  const expiresAt = policyAt(t, now).expiresAt;
  if (expiresAt !== null) {
    if (expiresAt <= now) return [{ type: "expired", ...base, at: expiresAt }];
    if (expiresAt - now <= lifetimes.expiringSoonMs) out.push({ type: "expiring-soon", ...base, at: expiresAt });
  }
  const due = rotationDueAt(t, lifetimes);
  if (due !== null && due <= now) out.push({ type: "rotation-due", ...base, at: due });
  return out;
}

/**
 * Checks list filters once.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` naming the filter
 */
export function checkLifecycleFilter(filter: LifecycleFilter, lifetimes: Lifetimes): void {
  const { expiringBefore, dueForRotation } = filter;
  if (expiringBefore !== undefined && !Number.isSafeInteger(expiringBefore)) {
    throw new InvalidInputError("expiringBefore", "must be a time in epoch ms");
  }
  if (dueForRotation !== undefined && typeof dueForRotation !== "boolean") throw new InvalidInputError("dueForRotation", "must be a boolean");
  if (dueForRotation && lifetimes.rotationPeriodMs === null) {
    throw new InvalidInputError("dueForRotation", "needs tokens.rotationPeriodMs in the options of new Keyward");
  }
}

/** Whether a record passes the list filters at `now`. */
export function matchesLifecycle(t: StoredToken, record: TokenRecord, filter: LifecycleFilter, lifetimes: Lifetimes, now: number): boolean {
  if (filter.expiringBefore !== undefined && (record.policy.expiresAt === null || record.policy.expiresAt >= filter.expiringBefore)) return false;
  if (filter.dueForRotation !== undefined) {
    const due = rotationDueAt(t, lifetimes);
    if ((due !== null && due <= now && t.revokedAt === null) !== filter.dueForRotation) return false;
  }
  return true;
}
