// Credit pools of accounts, and the admin operations on any balance (a
// token's or an account's): read, top up, reset. Same state as a token's
// balance (credits.ts): a top-up adds to `bought`, which refills and
// calendar resets never touch (they give back plan credits only).
import { InvalidInputError } from "../../errors.js";
import type { AccountCreditsPolicy } from "../../model/account.js";
import { DEFAULT_POOL, MAX_CREDIT_BALANCE } from "../../model/pools.js";
import type { CreditAdjustment, CreditResult } from "../types.js";
import { nextPeriodStartUtc, periodStartUtc } from "./calendar.js";
import { type CreditState, type CreditStep, creditState, spendCredits } from "./credits.js";

/** An admin change of a balance: see {@link adjustCredits}. */
export type CreditChange = { op: "read" } | { op: "topUp"; amount: number } | { op: "reset" };

/** Start of the UTC calendar month holding `at`. */
export function monthStartUtc(at: number): number {
  return periodStartUtc(at, "month");
}

/** Start of the UTC calendar month after the one holding `at`. */
export function nextMonthStartUtc(at: number): number {
  return nextPeriodStartUtc(at, "month");
}

/**
 * Spends `cost` from an account's pool if it holds that many after any
 * refill or calendar reset due at `now`: its plan credits first, then
 * bought ones, then its overage; `cost` 0 reads the balance. Pure: `state`
 * is not changed.
 */
export function spendAccountCredits(
  state: CreditState | null | undefined,
  policy: AccountCreditsPolicy,
  cost: number,
  now: number,
): CreditStep {
  return spendCredits(state, policy, cost, now);
}

/**
 * An admin operation on a balance under `policy` (a token's credits are a
 * pool with no reset and no overage): `read` (the balance now, any refill or
 * reset due counted; `next` is always null: a read stores nothing, so a
 * later policy change finds the balance as if it never ran), `topUp` (adds
 * `amount` bought credits, kept across refills and resets until spent),
 * `reset` (a full balance and a fresh period: bought credits left are
 * dropped). Pure. `heldAside`: credits of the balance that `state` and
 * `policy` leave out (PostgreSQL's leased blocks), counted toward the cap.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` on `amount` when the balance would exceed {@link MAX_CREDIT_BALANCE}
 */
export function adjustCredits(
  state: CreditState | null | undefined,
  policy: AccountCreditsPolicy,
  change: CreditChange,
  now: number,
  heldAside = 0,
): CreditStep {
  if (change.op === "reset") {
    const next: CreditState = { used: 0, bought: 0, periodStart: null };
    return { result: balanceOf(next, policy, now), next };
  }
  const step = spendAccountCredits(state, policy, 0, now);
  if (change.op === "read") return { result: step.result, next: null };
  const base = step.next ?? creditState(state);
  const next: CreditState = { ...base, bought: base.bought + change.amount };
  const result = balanceOf(next, policy, now);
  if (result.remaining + heldAside > MAX_CREDIT_BALANCE) {
    throw new InvalidInputError("amount", `would leave a balance above ${MAX_CREDIT_BALANCE}`);
  }
  return { result, next };
}

function balanceOf(state: CreditState, policy: AccountCreditsPolicy, now: number): CreditResult {
  return spendAccountCredits(state, policy, 0, now).result;
}

/** A token's credit policy as a pool (its calendar reset if any, no overage), for {@link adjustCredits}. */
export function tokenPool(credits: { limit: number; refill: AccountCreditsPolicy["refill"]; reset?: AccountCreditsPolicy["reset"] | undefined }): AccountCreditsPolicy {
  return { limit: credits.limit, refill: credits.refill, reset: credits.reset ?? null, overage: 0 };
}

/**
 * How long a store keeps the idempotency key of a top-up or a reset (30 days
 * of `now`, the time of the call that used it first): a call with the key
 * within it is answered without a change; after it, the key is new again
 * (Stripe's semantics; Stripe retries a webhook for up to 3 days).
 */
export const CREDIT_KEY_RETENTION_MS = 30 * 86_400_000;

/**
 * What a store keeps with a credit operation's idempotency key: the
 * operation as text (its balance, `op` and `amount`; the actor is not part
 * of it), equal for the same operation only. JSON: valid UTF-8 without NUL
 * whatever the strings hold.
 */
export function creditRequestText(request: CreditAdjustment): string {
  const k = request.key;
  const c = request.change;
  const target = "owner" in k ? ["owner", k.owner] : ["tokenId", k.tokenId];
  return JSON.stringify([...target, k.pool ?? DEFAULT_POOL, c.op, c.op === "topUp" ? c.amount : null]);
}

/**
 * Whether a top-up or reset with an idempotency key was applied already:
 * `found` is what the store keeps with the key (null when absent), read in
 * the transaction that would apply it. True when it holds this very
 * operation within {@link CREDIT_KEY_RETENTION_MS} of `now`: the store then
 * answers the balance now (a read) and writes nothing, no audit entry
 * either. False when there is none (or it is older): the store applies the
 * change and keeps `creditRequestText(request)` and `now` with the key, in
 * the same transaction.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` on `idempotencyKey` when the key was used for another balance, operation or amount
 */
export function creditKeyReplayed(found: { request: string; at: number } | null | undefined, request: CreditAdjustment, now: number): boolean {
  if (!found || found.at <= now - CREDIT_KEY_RETENTION_MS) return false;
  if (found.request !== creditRequestText(request)) {
    throw new InvalidInputError("idempotencyKey", "was used for another credit operation (balance, operation or amount): use a new key");
  }
  return true;
}
