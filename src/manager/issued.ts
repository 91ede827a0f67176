// The result of issuing a token: the only object that ever holds the token
// string. Logging it, JSON-serialising it or inspecting it shows the token
// redacted; only reading `.token` gives the secret.
import type { TokenRecord } from "../model/types.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * What `tokens.create` and `tokens.regenerate` return: the token, once, and its record. Only reading `.token`
 * (or destructuring it) gives the token: the result serialised whole (`JSON.stringify`, `Response.json(result)`,
 * Hono's `c.json(result)`), spread (`{ ...result }`, which has no `token`) or logged shows it redacted. An endpoint
 * that issues tokens sends `{ token: result.token, record: result.record }`.
 */
export class IssuedToken {
  readonly #token: string;
  /** The token's public record (no secret). */
  readonly record: TokenRecord;

  /** @internal */
  constructor(token: string, record: TokenRecord) {
    this.#token = token;
    this.record = record;
  }

  /** The token string. Shown exactly once: keyward keeps only its hash. */
  get token(): string {
    return this.#token;
  }

  /** Redacted: the token's displayable start and the record. */
  toJSON(): { token: string; record: TokenRecord } {
    return { token: redacted(this.record.start), record: this.record };
  }

  /** Redacted: `IssuedToken(acme_sk_live_4qT9…[redacted])`. */
  toString(): string {
    return `IssuedToken(${redacted(this.record.start)})`;
  }

  /** Redacted, for `console.log` and `util.inspect`: the token's start and id. */
  [INSPECT](): string {
    return `IssuedToken { token: '${redacted(this.record.start)}', id: '${this.record.id}' }`;
  }
}

function redacted(start: string): string {
  return `${start}…[redacted]`;
}
