// Accounts: what an owner's plan allows every one of its tokens. Plain data,
// shared by the account manager, the stores and the verifier.
import type { RandomSource } from "../lib/crypto.js";
import { auditId } from "./audit-id.js";
import { policyAt, readTime } from "./record.js";
import type { Role } from "./roles.js";
import type { AuditEntry, CalendarReset, CreditsPolicy, RateLimitPolicy } from "./types.js";

/**
 * An account's credit pool: every metered request of any of its tokens is
 * charged here too, in the same atomic step as the token.
 */
export interface AccountCreditsPolicy {
  /** Credits of the pool per period (the balance a refill or reset comes back to). */
  limit: number;
  /** Every `intervalMs` since the first use, `amount` credits come back (up to `limit`); exclusive with `reset`. */
  refill: CreditsPolicy["refill"];
  /** `"day"` / `"month"`: the pool is full again at 00:00 UTC of every calendar day / first day of every month; exclusive with `refill`. */
  reset: CalendarReset | null;
  /** Credits that may be spent beyond `limit` in a period (default 0): billed as overage, never more. */
  overage: number;
}

/** The part of an account that decides requests; effective-dated like a token's policy. */
export interface AccountPolicy {
  /**
   * The plan ceiling: the scopes the account's tokens may hold and use, or
   * null for no ceiling. A token's effective scopes are its own scopes within
   * the ceiling, applied at every verification.
   */
  ceiling: string[] | null;
  /** The default pool every token of the account spends from (routes that name no pool), or null. */
  credits: AccountCreditsPolicy | null;
  /**
   * More named pools (`"premium"`), charged by routes that name them, like a
   * token's `pools`. Absent in records written before pools: none.
   */
  pools?: Record<string, AccountCreditsPolicy>;
  /** Requests of all the account's tokens together, or null. */
  rateLimit: RateLimitPolicy | null;
  /**
   * Lifetimes and rotation of the account's tokens, each at most the
   * application's (`tokens` in the options of `new Keyward`); null: the
   * application's. Absent in records written before: the application's.
   */
  tokens?: AccountTokenRules;
  /**
   * The account is suspended: every request of each of its tokens is denied
   * with `ACCOUNT_SUSPENDED` (403), its tokens kept as they are for when it
   * is lifted (null). Absent in records written before: not suspended.
   */
  suspended?: AccountSuspension | null;
}

/** Why an account is suspended: the operator's words, never shown to an API caller nor to the account's members. */
export interface AccountSuspension {
  /** The operator's reason (an invoice, a ticket), kept here and in the audit entry of the suspension. */
  reason: string;
  /**
   * When the suspension began (epoch ms): the effective time of the change
   * that suspended the account, kept by a change of the reason while it is
   * suspended. Absent in a suspension written
   * before it was recorded: not known from the record.
   */
  since?: number;
}

/** An account's rules for its tokens' lifetimes (ms; null: the application's rule). */
export interface AccountTokenRules {
  /** Expiry of a token created without one: now + this. */
  defaultLifetimeMs: number | null;
  /** Latest expiry a create or update may set: now + this. */
  maxLifetimeMs: number | null;
  /** A token is due for rotation this long after its secret was issued. */
  rotationPeriodMs: number | null;
}

/** An account policy revision that applies from `effectiveAt` (epoch ms) on. */
export interface ScheduledAccountPolicy {
  /** When it takes effect, epoch ms. */
  effectiveAt: number;
  /** The whole policy in force from then on. */
  policy: AccountPolicy;
}

/** An account as the store keeps it (and as `kw.accounts.get` returns it). */
export interface StoredAccount {
  /** The owner id the account belongs to (that of its tokens). */
  owner: string;
  /** The policy in force before the first scheduled revision. */
  policy: AccountPolicy;
  /** Future revisions, in strictly ascending effectiveAt (a store answering them otherwise answers a malformed record). */
  scheduled: ScheduledAccountPolicy[];
  /** When it was first written, epoch ms. */
  createdAt: number;
  /** When it was last written, epoch ms. */
  updatedAt: number;
  /** Incremented by every write; the compare-and-set key. */
  revision: number;
  /** Team members by id (the `actor` of their admin actions) and their role; absent: none. */
  members?: Record<string, Role>;
}

/**
 * The account's policy in force on a server whose clock says `now`, read at
 * no earlier than the account's last write ({@link readTime}): a revision
 * the writer already held for due stays in force on a server whose clock is
 * behind the writer's (SECURITY.md, "Clocks").
 */
export function accountPolicyAt(account: StoredAccount, now: number): AccountPolicy {
  return policyAt(account, readTime(account, now));
}

/**
 * The time a write of `current` (null: a new account) is made at: `clock`,
 * or the account's last write when that is later. A write judged, and
 * stamped, earlier would move the account back and bring a revision due for
 * its last writer back to pending on every server whose clock is behind.
 */
export function accountWriteTime(current: StoredAccount | null, clock: number): number {
  return current === null ? clock : readTime(current, clock);
}

/** The audit `tokenId` of an entry about a whole account (every token of the owner), not one token. */
export const ACCOUNT_AUDIT_TARGET = "*";

/** An audit entry about a whole account, at `at`; `extra` adds the optional fields (role, effectiveAt, reason, member and memberRole). */
export function accountAudit(
  at: number,
  random: RandomSource,
  actor: string,
  action: AuditEntry["action"],
  owner: string,
  changes: string[],
  extra?: Pick<AuditEntry, "role" | "effectiveAt" | "reason" | "member" | "memberRole">,
): AuditEntry {
  return { id: auditId(at, random), at, actor, action, tokenId: ACCOUNT_AUDIT_TARGET, owner, changes, ...extra };
}
