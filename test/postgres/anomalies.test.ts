// Anomaly state shared across a fleet on PostgreSQL: two stores (two pools, as two servers
// would have) on one database.
import { postgresStore } from "keyward/postgres";
import { describe, expect, it } from "vitest";
import { fleetScenario, PER_PROCESS_ALERTS, SHARED_ALERTS } from "../support/anomaly-fleet.js";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

describe.runIf(hasPostgres)("PostgreSQL: anomaly state shared across a fleet", () => {
  const pools = [testPool({ max: 4 }), testPool({ max: 4 })] as const;

  for (const [name, mode, expected] of [
    ["each alert once in the fleet", {}, SHARED_ALERTS],
    ["per process with shared: false", { shared: false as const }, PER_PROCESS_ALERTS],
  ] as const) {
    it(name, async () => {
      const tablePrefix = freshPrefix();
      const a = await postgresStore(pools[0], { tablePrefix });
      const b = await postgresStore(pools[1], { tablePrefix });
      expect(await fleetScenario([a, b], mode)).toEqual(expected);
      await a.close();
      await b.close();
    });
  }
});
