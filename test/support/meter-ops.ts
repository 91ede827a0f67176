// Random metering sequences (fast-check), for the "decides like MemoryStore" properties of SQL stores.
import fc from "fast-check";
import { tokenPool } from "keyward";

/** Now and then a top-up after a step (null: none). */
const topUp = fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 });

/** The admin top-up of a step's pool (`adjustCredits` request), or null. */
export function topUpRequest(tokenId: string, op: { topUp: number | null; pool?: string | undefined }, credits: Parameters<typeof tokenPool>[0]) {
  if (op.topUp === null) return null;
  const key = op.pool === undefined ? { tokenId } : { tokenId, pool: op.pool };
  return { key, policy: tokenPool(credits), change: { op: "topUp" as const, amount: op.topUp } };
}

/** Steps of a metering run: time passing, a cost, the token's credit and rate-limit policies at that step, and any top-up after it. */
export const meterOps = (maxLength: number) =>
  fc.array(
    fc.record({
      dt: fc.nat({ max: 900 }),
      cost: fc.nat({ max: 6 }),
      limit: fc.integer({ min: 0, max: 12 }),
      refill: fc.option(fc.record({ amount: fc.nat({ max: 5 }), intervalMs: fc.integer({ min: 1, max: 2000 }) })),
      rate: fc.option(fc.record({ limit: fc.integer({ min: 0, max: 5 }), windowMs: fc.integer({ min: 1, max: 3000 }) })),
      topUp,
    }),
    { maxLength },
  );

/**
 * Steps of a metering run with named pools, several rate limits and calendar
 * resets: each step draws from one pool (default or named) and carries every
 * limit of the token at that step, then now and then tops that pool up.
 * Build the requests with {@link poolRequest} and {@link topUpRequest}.
 */
export const poolOps = (maxLength: number) =>
  fc.array(
    fc.record({
      dt: fc.oneof(fc.nat({ max: 900 }), fc.constant(6 * 3_600_000)),
      cost: fc.nat({ max: 6 }),
      pool: fc.constantFrom(undefined, "default", "premium", "core"),
      limit: fc.integer({ min: 0, max: 12 }),
      refill: fc.option(fc.record({ amount: fc.nat({ max: 5 }), intervalMs: fc.integer({ min: 1000, max: 5000 }) })),
      reset: fc.constantFrom(null, "day" as const, "month" as const),
      rate: fc.option(fc.record({ limit: fc.integer({ min: 0, max: 5 }), windowMs: fc.integer({ min: 1, max: 3000 }) })),
      more: fc.subarray([
        { limit: 4, windowMs: 1500 },
        { limit: 7, windowMs: 4000 },
        { limit: 9, windowMs: 86_400_000 },
      ]),
      topUp,
    }),
    { maxLength },
  );

type PoolOp = ReturnType<typeof poolOps> extends fc.Arbitrary<(infer O)[]> ? O : never;

/** The meter request of a {@link poolOps} step (a reset wins over a refill; no two limits share a window). */
export function poolRequest(tokenId: string, op: PoolOp) {
  const credits = op.reset === null ? { limit: op.limit, refill: op.refill } : { limit: op.limit, refill: null, reset: op.reset };
  const rateLimits = op.more.filter((l) => l.windowMs !== op.rate?.windowMs);
  return { tokenId, cost: op.cost, rateLimit: op.rate, rateLimits, credits, ...(op.pool === undefined ? {} : { pool: op.pool }) };
}
