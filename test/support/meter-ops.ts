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
