// Work counters of the parsers a verification runs on untrusted input.
// Internal: not exported from keyward/signing. Tests read them to prove that
// the work of one verification is bounded (counts, not time), whatever the
// request holds; the increments cost nothing measurable.

/** Parser invocations and the characters they were given, since the process started. */
export const work = {
  /**
   * Parses: Signature-Input and Signature (once each), the query for
   * `@query-param` (RFC 9421 §2.2.8), each Dictionary field value for `;key`
   * (§2.1.2) and each field covered with `;sf` (§2.1.1).
   */
  parses: 0,
  /** Characters given to all of the above. */
  bytes: 0,
};
