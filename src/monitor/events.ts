// What the request path tells monitors about each decision.
import type { DenyCode } from "../policy/decision.js";

/**
 * How much earlier than the latest decision a decision may be and still count
 * with it (in an anomaly window, in the minute of the usage scope bound):
 * decisions reach monitors in the order requests ended, and their time is
 * when they began (a slow one's time is earlier than a fast one's after it).
 * A client chooses how slow: a signed body may take up to
 * `signatures.bodyTimeoutMs` (at most 10 minutes) to arrive, and its decision
 * must not start a window or a minute afresh (a denial burst never raised, a
 * token's scopes bound lifted). Earlier than that, the clock stepped back (an
 * NTP correction, a clock set by hand, an injected `now`).
 */
export const OUT_OF_ORDER_MS = 11 * 60_000;

/**
 * One decision, as `onDecision` hooks (and anomaly detection) receive it.
 * Never holds a token or a secret: the token is named by its public id.
 */
export interface DecisionEvent {
  /** Epoch ms of the decision. */
  at: number;
  /** The token's public id, or null when it was not identified (credential failures, failed signatures). */
  tokenId: string | null;
  /** The token's owner, or null when it was not identified. */
  owner: string | null;
  /** Whether the request was allowed. */
  ok: boolean;
  /** `"OK"`, or why the request was denied (the specific code, credential failures included). */
  code: "OK" | DenyCode;
  /** The HTTP status the decision answers with (200 when allowed). */
  status: number;
  /** The scope(s) the route required, space-separated, or null. */
  scope: string | null;
  /** Credits charged (0 when denied). */
  cost: number;
  /**
   * The client IP as the verifier resolved it, in canonical form (`kw.check`'s
   * `ip` too: `::ffff:203.0.113.9` is `203.0.113.9`, IPv6 is RFC 5952), or
   * null when there is none or it does not parse.
   */
  ip: string | null;
  /** The request's Origin (its first 300 characters: any real origin is shorter), or null. */
  origin: string | null;
  /** Whether the request carried an HTTP Message Signature (RFC 9421). */
  signed: boolean;
  /** The credit pool the route named, or null for the default pool. */
  pool: string | null;
}
