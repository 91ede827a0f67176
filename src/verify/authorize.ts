// Stage 2, authorize: may this token make this request. The policy in force
// (computed once per request), the pure policy evaluation and the scope
// check, then the account: a suspension denies; under a plan ceiling the
// scope check again, in one test per scope with the ceiling, and its
// limits, handed to the meter with the token's. No store write happens here.
import type { ResolvedConfig } from "../config.js";
import { acceptedComponents } from "../http/fields.js";
import { type AccountPolicy, accountPolicyAt, type StoredAccount } from "../model/account.js";
import { policyAt, readTime } from "../model/record.js";
import type { StoredToken, TokenPolicy } from "../model/types.js";
import { compiledOnce, type EvaluationContext, evaluatePolicy, evaluateScope } from "../policy/evaluate.js";
import { deny } from "../policy/decision.js";
import { compileScopes, type ScopeMatcher } from "../policy/scope.js";
import { checkStoredAccount } from "../store/kit/validate.js";
import { sharedReadsOf } from "../store/shared-reads.js";
import type { AccountMeter } from "../store/types.js";
import { type LookupCacheOptions, SharedLookup } from "./cache.js";
import { type Decision, decision, type Staged, storeUnavailable } from "./decision.js";

/** An account's plan as the meter needs it: its meter for the default pool, and its named pools. */
export interface AccountPlanMeter {
  meter: AccountMeter;
  pools: AccountPolicy["pools"];
}

/** A request the policy allows: the token, the policy it was allowed under, and its account's limits (null: none). */
export interface Authorized {
  stored: StoredToken;
  policy: TokenPolicy;
  account: AccountPlanMeter | null;
}

export const hasPools = (p: { pools?: Record<string, unknown> | undefined }) => p.pools !== undefined && Object.keys(p.pools).length > 0;

/** The store's answer to an account lookup, when it is an account or null; else a throw. */
function wellFormed(account: StoredAccount | null): StoredAccount | null {
  if (account !== null) checkStoredAccount(account, "account");
  return account;
}

/** @internal The authorization stage of the verifier. */
export class Authorizer {
  /** Accounts by owner (null when the store has none), cached like tokens: never older than revocationBoundMs. */
  readonly #accounts: SharedLookup<StoredAccount> | null;
  /** Compiled plan ceilings, per policy object. */
  readonly #ceilings = new WeakMap<AccountPolicy, ScopeMatcher>();
  /** What each account policy asks of the meter (null: nothing), built once per policy object. */
  readonly #accountMeters = new WeakMap<AccountPolicy, AccountPlanMeter | null>();
  /** The components Accept-Signature asks for, for a request without a body and with one. */
  readonly #accept: readonly [string, string];

  constructor(config: ResolvedConfig, bounds: LookupCacheOptions) {
    const required = config.signatures.required;
    this.#accept = [acceptedComponents(required, false), acceptedComponents(required, true)];
    const store = config.store;
    const shared = sharedReadsOf(store.adapter);
    // "No account" is an ordinary answer: cached as long as an account. An
    // answer that is not an account nor null fails the lookup (STORE_UNAVAILABLE, not cached).
    this.#accounts = store.capabilities.accounts
      ? new SharedLookup<StoredAccount>(
          { ...bounds, negativeTtlMs: bounds.ttlMs },
          shared ? (owner) => wellFormed(shared.getAccount(owner)) : (owner) => store.getAccount(owner).then(wellFormed),
          config.lookupTimeoutMs,
        )
      : null;
  }

  /** Drops what the cache holds for an account. */
  invalidateAccount(owner: string): void {
    this.#accounts?.invalidate([owner]);
  }

  /** Drops every cached account. */
  reset(): void {
    this.#accounts?.clear();
  }

  /** The token's policy, then its account's plan, applied to the request (`hasBody`: what a Fetch request's headers say). */
  authorize(stored: StoredToken, context: EvaluationContext & { readonly hasBody?: boolean }, now: number): Staged<Authorized> {
    // The decision's headers and token view read the record at the same time (readTime).
    const at = readTime(stored, now);
    const policy = policyAt(stored, at);
    // One lookup of the policy's matchers for both checks below (a WeakMap read each otherwise).
    const m = compiledOnce(policy);
    const verdict = evaluatePolicy(stored, policy, context, at, m);
    if (!verdict.ok) {
      const accept = verdict.code === "SIGNATURE_REQUIRED" ? this.#accept[context.hasBody ? 1 : 0] : undefined;
      return decision(verdict, stored, now, accept === undefined ? undefined : { accept });
    }
    // The scope as the token alone allows it, before the account: a plan
    // ceiling can only narrow it, so a scope the token cannot use is denied
    // without a store call (nor a wait on a slow or failing accounts store).
    const own = evaluateScope(stored, policy, context, null, m.scopes);
    if (!own.ok) return decision(own, stored, now);
    if (this.#accounts === null) return { stored, policy, account: null };
    const hit = this.#accounts.peek(stored.owner, now);
    if (hit !== undefined) return this.#withAccount(stored, policy, hit.value, context, now, at);
    const found = this.#accounts.fetch(stored.owner, now);
    if (!(found instanceof Promise)) return this.#withAccount(stored, policy, found, context, now, at);
    return found.then(
      (account) => this.#withAccount(stored, policy, account, context, now, at),
      () => storeUnavailable(now),
    );
  }

  /**
   * The account's part (`account` null: none): a suspended account denies
   * every request (`ACCOUNT_SUSPENDED`); under a plan ceiling, the
   * scope check again, each required scope tested once for all that must
   * hold of it (held by the token, allowed for its kind, within the
   * ceiling: the token's effective scopes are its own within the ceiling,
   * and an `anyOf` needs one scope that passes all three); then the plan's
   * limits, for the meter.
   */
  #withAccount(
    stored: StoredToken,
    policy: TokenPolicy,
    account: StoredAccount | null,
    context: EvaluationContext,
    now: number,
    at: number,
  ): Authorized | Decision {
    if (account === null) return { stored, policy, account: null };
    // The account read at no earlier than its own last write too (SECURITY.md, "Clocks").
    const plan = accountPolicyAt(account, at);
    // Before the ceiling and the meter: a suspended account's requests spend nothing and write nothing.
    if (plan.suspended != null) return decision(deny("ACCOUNT_SUSPENDED"), stored, now);
    if (plan.ceiling !== null && context.scope !== undefined) {
      const scoped = evaluateScope(stored, policy, context, this.#ceiling(plan, plan.ceiling));
      if (!scoped.ok) return decision(scoped, stored, now);
    }
    return { stored, policy, account: this.#meter(account.owner, plan) };
  }

  /** What the plan asks of the meter (null: nothing), built once per policy object. */
  #meter(owner: string, plan: AccountPolicy): AccountPlanMeter | null {
    let meter = this.#accountMeters.get(plan);
    if (meter === undefined) {
      meter =
        plan.credits === null && plan.rateLimit === null && !hasPools(plan)
          ? null
          : { meter: { owner, rateLimit: plan.rateLimit, credits: plan.credits }, pools: plan.pools };
      this.#accountMeters.set(plan, meter);
    }
    return meter;
  }

  /** The plan's ceiling, compiled once per policy object. */
  #ceiling(plan: AccountPolicy, ceiling: readonly string[]): ScopeMatcher {
    let within = this.#ceilings.get(plan);
    if (within === undefined) {
      within = compileScopes(ceiling);
      this.#ceilings.set(plan, within);
    }
    return within;
  }
}
