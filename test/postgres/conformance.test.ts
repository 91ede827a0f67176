// The whole TokenStore conformance suite on a real PostgreSQL server.
import { type PostgresStore, postgresStore } from "keyward/postgres";
import { describeTokenStore } from "keyward/testing";
import { describe } from "vitest";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool({ max: 20 });
  describeTokenStore("PostgresStore", () => postgresStore(pool, { tablePrefix: freshPrefix() }), {
    raw: (s) => (s as PostgresStore).dump(),
  });
});
