// The part of a PostgreSQL driver keyward calls, as a structural type (like
// Kysely's `PostgresPool`): a `pg` `Pool` fits, and `pg` is an optional peer,
// never a dependency.
import { answerWithin } from "../lib/within.js";

/** What a query resolves with: the rows, and how many rows the statement touched. */
export interface PostgresQueryResult {
  rows: unknown[];
  rowCount?: number | null;
}

/** A notification received on a LISTEN connection (`pg`'s `Notification`). */
export interface PostgresNotification {
  channel: string;
  payload?: string | undefined;
}

/** One connection checked out of a pool (`pg`'s `PoolClient`). */
export interface PostgresClient {
  /** Runs one parameterized statement on this connection. */
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
  /** Returns the connection to the pool; with an error (or true), the pool destroys it. */
  release(err?: Error | boolean): void;
  /** Needed for the change feed only: `notification`, `error` and `end` events. */
  on?(event: "notification" | "error" | "end", listener: (value: unknown) => void): unknown;
  /** Needed for the change feed only: removes a listener `on` added. */
  removeListener?(event: "notification" | "error" | "end", listener: (value: unknown) => void): unknown;
}

/** A connection pool (`pg`'s `Pool`): one-shot queries and checked-out connections for transactions. */
export interface PostgresPool {
  /** Runs one parameterized statement on any connection of the pool. */
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
  /** Checks a connection out, for a transaction or the change feed's `LISTEN`. */
  connect(): Promise<PostgresClient>;
}

/** PostgreSQL's SQLSTATE of an error (`pg` puts it in `code`), or undefined. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint a unique violation (SQLSTATE 23505) broke, or undefined for any other error. */
export function violatedConstraint(err: unknown): string | undefined {
  if (sqlState(err) !== "23505") return undefined;
  const c = (err as { constraint?: unknown }).constraint;
  return typeof c === "string" ? c : "";
}

/**
 * A connection of `pool`, waited for `ms` at most (then `STORE_UNAVAILABLE`): a pool without
 * `connectionTimeoutMillis` waits for ever for a slot (every connection busy or stuck). One that
 * comes after the wait was given up goes back to the pool at once, unused, or its slot would be held for good.
 */
export async function connectWithin(pool: PostgresPool, ms: number, what: string): Promise<PostgresClient> {
  const checkout = pool.connect();
  try {
    return await answerWithin(checkout, ms, what);
  } catch (err) {
    checkout.then(
      (late) => late.release(),
      () => {},
    );
    throw err;
  }
}
