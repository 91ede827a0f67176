// Random metering sequences (fast-check), for the "decides like MemoryStore" properties of SQL stores.
import fc from "fast-check";

/** Steps of a metering run: time passing, a cost, and the token's credit and rate-limit policies at that step. */
export const meterOps = (maxLength: number) =>
  fc.array(
    fc.record({
      dt: fc.nat({ max: 900 }),
      cost: fc.nat({ max: 6 }),
      limit: fc.integer({ min: 0, max: 12 }),
      refill: fc.option(fc.record({ amount: fc.nat({ max: 5 }), intervalMs: fc.integer({ min: 1, max: 2000 }) })),
      rate: fc.option(fc.record({ limit: fc.integer({ min: 0, max: 5 }), windowMs: fc.integer({ min: 1, max: 3000 }) })),
    }),
    { maxLength },
  );

/**
 * Steps of a metering run with named pools, several rate limits and calendar
 * resets: each step draws from one pool (default or named) and carries every
 * limit of the token at that step. Build the request with {@link poolRequest}.
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
