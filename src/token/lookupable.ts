// Which presented strings are worth a store lookup: one rule for the verifier
// and for leak reports, so that a key one accepts the other finds.
import { MAX_FOREIGN_TOKEN_LENGTH, type ResolvedConfig } from "../config.js";
import { wellFormedPrefixLength } from "./format.js";

/**
 * Whether a presented string may be looked up in the store: a well-formed
 * token with one of this application's prefixes, or (with
 * `acceptForeignTokens`) a legacy key of the configured shape. Anything else
 * is refused without a store access.
 */
export function lookupable(cfg: Pick<ResolvedConfig, "prefixes" | "acceptForeignTokens">, token: string): boolean {
  const length = wellFormedPrefixLength(token);
  if (length >= 0) return cfg.prefixes.some((p) => p.length === length && token.startsWith(p));
  const foreign = cfg.acceptForeignTokens;
  return foreign !== false && token.length >= foreign.minLength && token.length <= MAX_FOREIGN_TOKEN_LENGTH && token.startsWith(foreign.prefix);
}
