// The whole TokenStore conformance suite on a real PostgreSQL server.
import { type PostgresStore, postgresStore } from "keyward/postgres";
import { describeTokenStore } from "keyward/testing";
import { describe } from "vitest";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

// The kit's races (1 000 concurrent meter calls on 20 connections) took up to 19 s under two CPU hogs on
// 2 cores: its default timeout of 60 s (timeoutMs) is for them. They count grants; a hang still fails.

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool({ max: 20 });
  // The races group puts 1 000 meter calls on one row through 20 connections: on a loaded machine a
  // call's wait for the row passed the default lock timeout of 1 s (STORE_UNAVAILABLE, a deadline working
  // as documented, not a miscount). The suite counts grants; the deadline has tests of its own.
  // The races' peer: the same tables through a pool of its own, as another process of the fleet.
  const peerPool = testPool({ max: 20 });
  let prefix = "";
  const store = (on = pool) => postgresStore(on, { tablePrefix: prefix, requestLockTimeoutMs: 20_000 });
  const fresh = () => {
    prefix = freshPrefix();
    return store();
  };
  describeTokenStore("PostgresStore", fresh, {
    raw: (s) => (s as PostgresStore).dump(),
    peer: () => store(peerPool),
  });
});
