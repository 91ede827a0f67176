// kw.billing on a real PostgreSQL server: exports, runs billed once, concurrent runs.
import { postgresStore } from "keyward/postgres";
import { describe } from "vitest";
import { describeBilling } from "../support/billing-suite.js";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool({ max: 20 });
  describeBilling("PostgreSQL", () => postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }));
});
