// Token lifetimes and rotation, for the whole application: the expiry a
// create gets by default, the latest expiry a write may set, when a token is
// due for rotation, and the events a scan reports. Pure functions of the
// record, the options and `now`: no timer per token (the application or the
// CLI runs `kw.tokens.scan` when it likes, e.g. once a day).
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, LifetimeExceededError } from "../errors.js";
import { type AccountTokenRules, accountPolicyAt, type StoredAccount } from "../model/account.js";
import { policyAt } from "../model/record.js";
import { parseInput, timestamp } from "../model/schemas.js";
import type { StoredToken, TokenRecord } from "../model/types.js";

/** The rules for one owner's tokens: the application's, tightened by the account's. */
export type Lifetimes = ResolvedConfig["tokens"] & {
  /** The option that set `maxLifetimeMs` (named in `LIFETIME_EXCEEDED`). */
  maxLimit?: string;
};

const tighter = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The rules for an owner's tokens at `at` (the account read at no earlier
 * than its last write): the application's, with the
 * account's (when it has rules) where they are tighter; a default lifetime
 * longer than the maximum is cut to it.
 */
export function ownerLifetimes(app: Lifetimes, account: StoredAccount | null, at: number): Lifetimes {
  const rules = account && accountPolicyAt(account, at).tokens;
  if (!rules) return app;
  const maxLifetimeMs = tighter(app.maxLifetimeMs, rules.maxLifetimeMs);
  const wanted = rules.defaultLifetimeMs ?? app.defaultLifetimeMs;
  return {
    ...app,
    defaultLifetimeMs: wanted === null ? null : tighter(wanted, maxLifetimeMs),
    maxLifetimeMs,
    rotationPeriodMs: tighter(app.rotationPeriodMs, rules.rotationPeriodMs),
    maxLimit: maxLifetimeMs !== null && maxLifetimeMs !== app.maxLifetimeMs ? "account.tokens.maxLifetimeMs" : "tokens.maxLifetimeMs",
  };
}

/**
 * An account's rules may only tighten the application's: the maximum and
 * the rotation period at most the application's, the default at most both
 * maximums.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED` naming the field and the limit it exceeds
 */
export function checkAccountRules(rules: AccountTokenRules, app: Lifetimes): void {
  const limits: [keyof AccountTokenRules, number | null, string][] = [
    ["maxLifetimeMs", app.maxLifetimeMs, "tokens.maxLifetimeMs"],
    ["rotationPeriodMs", app.rotationPeriodMs, "tokens.rotationPeriodMs"],
    ["defaultLifetimeMs", app.maxLifetimeMs, "tokens.maxLifetimeMs"],
    ["defaultLifetimeMs", rules.maxLifetimeMs, "patch.tokens.maxLifetimeMs"],
  ];
  for (const [k, limit, name] of limits) {
    const v = rules[k];
    if (v !== null && limit !== null && v > limit) {
      throw new LifetimeExceededError(`patch.tokens.${k}`, `must be at most ${name} (${limit} ms)`, undefined, { limit: name });
    }
  }
}

/** What `kw.tokens.scan` reports about one token. */
export interface LifecycleEvent {
  /**
   * `expired`: past its expiry (and not revoked); `expiring-soon`: expires
   * within `tokens.expiringSoonMs`; `rotation-due`: its secret is older than
   * the rotation period; `unused`: no allowed request for
   * `tokens.unusedAfterMs` (since its last use, or its creation);
   * `lifetime-exceeded`: it never expires, or expires later than the
   * maximum lifetime in force allows from now (`tokens.maxLifetimeMs`, or
   * the account's, set after it was written): a write would be refused
   * with `LIFETIME_EXCEEDED`.
   */
  type: "expired" | "expiring-soon" | "rotation-due" | "unused" | "lifetime-exceeded";
  tokenId: string;
  owner: string;
  /**
   * When it expires / expired, when rotation became due, or when it was last used (created, if never),
   * epoch ms; for `lifetime-exceeded`, the latest expiry the maximum allows now (an update may set it).
   */
  at: number;
}

/**
 * Filters of `kw.tokens.list`, applied to each page (a page may hold fewer
 * than `limit` records; follow `nextCursor`). Times are read like
 * `expiresAt`: epoch ms, a Date or an ISO-8601 string (a number that looks
 * like seconds is refused with `TIME_IN_SECONDS`).
 */
export interface LifecycleFilter {
  /** Only tokens that expire before this time, never-expiring and revoked ones excluded. */
  expiringBefore?: number | Date | string | undefined;
  /** Only tokens due for rotation now (needs a rotation period: `tokens.rotationPeriodMs`, or the account's). */
  dueForRotation?: boolean | undefined;
  /**
   * Only tokens not used since this time: last allowed request
   * before it, or never used and created before it; revoked ones excluded. Needs a store with
   * `capabilities.usageAnalytics` (last uses are written with usage, not per request).
   */
  unusedSince?: number | Date | string | undefined;
}

/** The list filters, checked: times as epoch ms. */
export interface ParsedLifecycleFilter {
  expiringBefore?: number;
  dueForRotation?: boolean;
  unusedSince?: number;
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
    const limit = lifetimes.maxLimit ?? "tokens.maxLifetimeMs";
    const message = expiresAt === null ? `must be set: ${limit} allows no token without an expiry` : `is beyond ${limit} from now`;
    throw new LifetimeExceededError("expiresAt", message, undefined, { limit, maxExpiresAt });
  }
}

/** When rotation is or becomes due, or null without a rotation period. */
export function rotationDueAt(t: Pick<StoredToken, "createdAt" | "rotatedAt">, lifetimes: Lifetimes): number | null {
  return lifetimes.rotationPeriodMs === null ? null : secretIssuedAt(t) + lifetimes.rotationPeriodMs;
}

/**
 * The events of one token at `now`; a revoked token has none. `lastUse`:
 * its last allowed request (null: never), when `tokens.unusedAfterMs` is set.
 */
export function lifecycleEvents(t: StoredToken, lifetimes: Lifetimes, now: number, lastUse?: number | null): LifecycleEvent[] {
  if (t.revokedAt !== null) return [];
  const out: LifecycleEvent[] = [];
  const base = { tokenId: t.id, owner: t.owner };
  const expiresAt = policyAt(t, now).expiresAt;
  if (expiresAt !== null) {
    if (expiresAt <= now) return [{ type: "expired", ...base, at: expiresAt }];
    if (expiresAt - now <= lifetimes.expiringSoonMs) out.push({ type: "expiring-soon", ...base, at: expiresAt });
  }
  const max = lifetimes.maxLifetimeMs;
  if (max !== null && (expiresAt === null || expiresAt > now + max)) out.push({ type: "lifetime-exceeded", ...base, at: now + max });
  const due = rotationDueAt(t, lifetimes);
  if (due !== null && due <= now) out.push({ type: "rotation-due", ...base, at: due });
  const used = lastUse === undefined ? undefined : (lastUse ?? t.createdAt);
  if (lifetimes.unusedAfterMs !== null && used !== undefined && now - used >= lifetimes.unusedAfterMs) out.push({ type: "unused", ...base, at: used });
  return out;
}

/**
 * Checks list filters once; a time in seconds would silently match no token
 * (it is in January 1970), so it is refused like an `expiresAt` in seconds.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` or `TIME_IN_SECONDS` naming the filter
 */
export function parseLifecycleFilter(filter: LifecycleFilter): ParsedLifecycleFilter {
  const { expiringBefore, dueForRotation, unusedSince } = filter;
  const parsed: ParsedLifecycleFilter = {};
  if (expiringBefore !== undefined) parsed.expiringBefore = parseInput(timestamp, expiringBefore, "expiringBefore");
  if (unusedSince !== undefined) parsed.unusedSince = parseInput(timestamp, unusedSince, "unusedSince");
  if (dueForRotation !== undefined) {
    if (typeof dueForRotation !== "boolean") throw new InvalidInputError("dueForRotation", "must be a boolean");
    parsed.dueForRotation = dueForRotation;
  }
  return parsed;
}

/**
 * Whether a record passes the list filters at `now`; `lastUse` (null: never)
 * is needed for `unusedSince`. A revoked token is never expiring, unused or
 * due for rotation, as a scan skips it: it has ended, nothing is left to
 * renew, rotate or clean up.
 */
export function matchesLifecycle(
  t: StoredToken,
  record: TokenRecord,
  filter: ParsedLifecycleFilter,
  lifetimes: Lifetimes,
  now: number,
  lastUse?: number | null,
): boolean {
  if ((filter.expiringBefore !== undefined || filter.unusedSince !== undefined) && t.revokedAt !== null) return false;
  if (filter.unusedSince !== undefined && (lastUse ?? t.createdAt) >= filter.unusedSince) return false;
  if (filter.expiringBefore !== undefined && (record.policy.expiresAt === null || record.policy.expiresAt >= filter.expiringBefore)) return false;
  if (filter.dueForRotation !== undefined) {
    const due = rotationDueAt(t, lifetimes);
    if ((due !== null && due <= now && t.revokedAt === null) !== filter.dueForRotation) return false;
  }
  return true;
}
