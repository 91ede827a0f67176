// Per-account lifetimes and rotation, and unused tokens, on a real PostgreSQL server.
import { postgresStore } from "keyward/postgres";
import { describe } from "vitest";
import { describeAccountLifecycle } from "../support/lifecycle-suite.js";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool();
  describeAccountLifecycle("PostgreSQL", () => postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }));
});
