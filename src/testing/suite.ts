// What every conformance group shares: the running test's store and helpers.
import { expect } from "vitest";
import type { ErrorCode } from "../errors.js";
import type { CreditsPolicy, StoredToken } from "../model/types.js";
import type { GuardedStore } from "../store/guard.js";
import type { CreditResult, RateLimitResult, TokenStore } from "../store/types.js";
import { FIXTURE_TIME } from "./fixtures.js";

/** What a group sees: the store of the running test (guarded, as `Keyward` uses it) and the suite's options. */
export interface SuiteContext {
  /** The store under test inside `guardStore`: valid input reaches the adapter, invalid input never does. */
  readonly store: GuardedStore;
  /** The adapter itself, as `makeStore` returned it. */
  readonly adapter: TokenStore;
  /**
   * The stores a race splits its calls between: the store under test, and its peer over the same data
   * (opened once per test, guarded) when `describeTokenStore` was given one.
   */
  stores(): Promise<readonly GuardedStore[]>;
  /** The suite's `raw` option: the database behind the adapter as text (undefined: the `raw` group skips). */
  readonly raw: ((store: TokenStore) => string | Promise<string>) | undefined;
  readonly concurrency: number;
}

/** A day-aligned instant every test uses as "now". */
export const T = FIXTURE_TIME;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/**
 * `n` calls started at once, call `i` on store `i % count`: the store under test, and its peer over the
 * same data when there is one (as two processes), so that an atomicity of one process only is seen.
 */
export async function callsAcross<R>(ctx: SuiteContext, n: number, f: (i: number, store: GuardedStore) => Promise<R>): Promise<Promise<R>[]> {
  const stores = await ctx.stores();
  return Array.from({ length: n }, (_, i) => f(i, stores[i % stores.length]!));
}

/** Spends credits through `meter` alone (no rate limit). */
export async function consume(
  store: GuardedStore,
  tokenId: string,
  cost: number,
  credits: CreditsPolicy,
  now: number,
): Promise<CreditResult> {
  return (await store.meter({ tokenId, cost, rateLimit: null, credits }, now)).credits!;
}

/** One rate-limit hit through `meter` alone (no credits). */
export async function hit(
  store: GuardedStore,
  tokenId: string,
  limit: number,
  windowMs: number,
  now: number,
): Promise<RateLimitResult> {
  return (await store.meter({ tokenId, cost: 0, rateLimit: { limit, windowMs }, credits: null }, now)).rateLimit!;
}

/**
 * Every read of one token: `get(id)`, then `findByHash` of each hash. Read-after-write tests call it
 * before a write too, so that a store caching reads must drop what the write changed.
 */
export async function lookups(store: GuardedStore, id: string, hashes: readonly string[]): Promise<(StoredToken | null)[]> {
  return [await store.get(id), ...(await Promise.all(hashes.map((h) => store.findByHash(h))))];
}

export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const outcome = await promise.then(
    () => ({ fulfilled: true as const }),
    (error: unknown) => ({ fulfilled: false as const, error }),
  );
  expect(outcome.fulfilled, `expected a rejection with ${code}`).toBe(false);
  if (outcome.fulfilled) return;
  // Checked by shape, not instanceof: an adapter may load another copy of keyward's errors.
  expect(outcome.error).toBeInstanceOf(Error);
  expect((outcome.error as { code?: unknown }).code).toBe(code);
}

export async function listAll(store: GuardedStore, owner: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.list(owner, { limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items.map((t) => t.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null && pages < 1000);
  return { ids, pages };
}

export function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Change events may arrive asynchronously (from another process): poll for up to 5 s. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a change event");
    await sleep(5);
  }
}
