// Public-suffix check of allowed-domain patterns, run where patterns are
// given (token creation and update), never on the request path. Kept apart
// from domain.ts so that the matchers, and keyward/client, do not carry the
// Public Suffix List (about 100 KB through `tldts`).
import { parse } from "tldts";
import type { DomainPattern } from "./domain.js";

/**
 * `localhost` and its subdomains are loopback names (RFC 6761 §6.3): no one
 * else can serve a page from them, so `*.localhost` is not a public suffix
 * wildcard even though no registry lists it.
 */
const LOOPBACK = "localhost";

/**
 * Tells whether an allowed-domain pattern would allow every site under a
 * public suffix, from the Public Suffix List (https://publicsuffix.org), both
 * its ICANN section (`com`, `co.uk`) and its private section (`github.io`,
 * `vercel.app`, where each subdomain is another customer's site):
 *
 * - a wildcard whose base is a public suffix (`*.com`, `*.co.uk`,
 *   `*.github.io`), or a single label (`*.internal`: the PSL's default rule
 *   treats an unlisted top-level name as a suffix), except `*.localhost`;
 * - an exact pattern that is itself a listed suffix (`com`, `github.io`),
 *   which names no one's site. Unlisted single labels (`localhost`, an
 *   intranet host) stay allowed as exact patterns.
 *
 * IP literals are never public suffixes.
 */
export function coversPublicSuffix(pattern: DomainPattern): boolean {
  const { host, wildcard } = pattern;
  if (host.startsWith("[")) return false;
  const info = parse(host, {
    allowPrivateDomains: true,
    detectIp: true,
    extractHostname: false,
    validateHostname: false,
  });
  if (info.isIp || info.publicSuffix !== host) return false;
  if (wildcard) return host !== LOOPBACK;
  return info.isIcann === true || info.isPrivate === true;
}
