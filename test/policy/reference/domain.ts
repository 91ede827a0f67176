// Reference oracle: src/policy/domain.ts as of d907d0b, before the indexed matchers.
// Property tests check that the new matchers decide exactly as this copy does.
// Do not edit: it is the baseline, not live code.
/**
 * Allowed-domain checks for `keyward/policy`: is the page that sent this
 * request (its `Origin`, else its `Referer`) one the token may be used from?
 *
 * Patterns:
 * - `example.com`: exactly that host;
 * - `*.example.com`: any subdomain at any depth (`a.example.com`,
 *   `a.b.example.com`) but not `example.com` itself; list both for both;
 * - an optional scheme, `http://` or `https://`, restricts the scheme;
 * - an optional port, `example.com:8443`. A pattern WITHOUT a port matches
 *   only the default port of the request's scheme (80 for http, 443 for
 *   https), never any port: `example.com` does not allow
 *   `https://example.com:8443`;
 * - no path, query, fragment or userinfo.
 *
 * Hosts are compared the way the WHATWG URL parser (which browsers use to
 * build `Origin`) serialises them: lowercase, internationalised names in
 * punycode (UTS #46, so `bücher.example` is `xn--bcher-kva.example`), IPv4
 * in dotted decimal, IPv6 in brackets. A trailing dot (the DNS root,
 * RFC 1034 §3.1) is ignored on both sides. Only the `URL` global is used,
 * which every runtime has.
 *
 * `Origin` and `Referer` are set by browsers, which is what this protects:
 * a page on another site cannot use a publishable token. A non-browser client
 * can send any header it likes, so domain checks are no defence against it.
 *
 * Every function here is pure and never throws on any input.
 *
 * @module keyward/policy
 */

/** A parsed allowed-domain pattern. */
export interface DomainPattern {
  /** Required scheme, or `null` for either http or https. */
  scheme: "http" | "https" | null;
  /** Lowercase, punycode, no trailing dot, without the `*.` of a wildcard. */
  host: string;
  /** `true` for `*.host`: strict subdomains of `host` only. */
  wildcard: boolean;
  /** Required port, or `null` for the default port of the request's scheme. */
  port: number | null;
}

/** Compiled allowed-domain list: may a request with these headers proceed? */
export type DomainMatcher = (origin: string | null | undefined, referer: string | null | undefined) => boolean;

/** Longest pattern accepted: a 253-character name, scheme, `*.` and port, with room to spare. */
const MAX_PATTERN_LENGTH = 300;
/** `Origin` / `Referer` values longer than this are refused before parsing. */
const MAX_HEADER_LENGTH = 4096;

const DEFAULT_PORT = { http: 80, https: 443 } as const;

/**
 * Normalises a host the way the URL parser does (IDNA to punycode,
 * lowercase, IPv4 canonicalised), then drops one trailing dot. Returns null
 * when the URL parser refuses it or it has anything but a host.
 */
function normalizeHost(host: string): string | null {
  let url: URL;
  try {
    url = new URL(`https://${host}`);
  } catch {
    return null;
  }
  if (url.username !== "" || url.password !== "" || url.port !== "") return null;
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") return null;
  return stripDot(url.hostname);
}

/** Drops one trailing dot; refuses empty labels (`a..b`, `a.`+`.`). */
function stripDot(hostname: string): string | null {
  const h = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (h === "" || h.startsWith(".") || h.includes("..") || h.endsWith(".")) return null;
  return h;
}

/** Port 1–65535 in decimal without leading zeros, or -1. */
function parsePort(s: string): number {
  if (s.length === 0 || s.length > 5 || s.charCodeAt(0) === 48) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v > 65535 ? -1 : v;
}

/**
 * Parses an allowed-domain pattern; used to validate input when a token is
 * created or updated.
 *
 * @param s any value
 * @returns the parsed pattern, or `null` when `s` is not a valid pattern
 * @example
 * ```ts
 * parseDomainPattern("https://*.Example.com:8443");
 * // { scheme: "https", host: "example.com", wildcard: true, port: 8443 }
 * parseDomainPattern("example.com/path"); // null
 * ```
 */
export function parseDomainPattern(s: unknown): DomainPattern | null {
  if (typeof s !== "string" || s.length === 0 || s.length > MAX_PATTERN_LENGTH) return null;
  let rest = s.toLowerCase();
  let scheme: DomainPattern["scheme"] = null;
  if (rest.startsWith("https://")) {
    scheme = "https";
    rest = rest.slice(8);
  } else if (rest.startsWith("http://")) {
    scheme = "http";
    rest = rest.slice(7);
  }
  // Refuse what the URL parser would otherwise quietly strip, decode or
  // reinterpret (controls, spaces, percent-escapes, path, userinfo, …).
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || "/\\?#@%".includes(rest[i]!)) return null;
  }
  let wildcard = false;
  if (rest.startsWith("*.")) {
    wildcard = true;
    rest = rest.slice(2);
  }
  if (rest.includes("*")) return null;
  let hostText = rest;
  let port: number | null = null;
  const close = rest.lastIndexOf("]");
  const colon = rest.lastIndexOf(":");
  if (colon > close) {
    // A colon after any IPv6 literal separates the port; a bare IPv6 address
    // (several colons, no brackets) is refused by the URL parser below.
    hostText = rest.slice(0, colon);
    port = parsePort(rest.slice(colon + 1));
    if (port < 0) return null;
  }
  if (hostText === "" || (close !== -1 && !hostText.startsWith("["))) return null;
  const host = normalizeHost(hostText);
  if (host === null) return null;
  // A wildcard only makes sense over a domain name, not an IP literal.
  if (wildcard && (host.startsWith("[") || isIpv4Host(host))) return null;
  return { scheme, host, wildcard, port };
}

/** The URL parser serialises any IPv4 host as four dotted decimals. */
function isIpv4Host(host: string): boolean {
  const parts = host.split(".");
  return parts.length === 4 && parts.every((p) => p !== "" && p.length <= 3 && /^[0-9]+$/.test(p));
}

interface Candidate {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** The URL carried no explicit port (it is the scheme's default). */
  defaultPort: boolean;
}

/**
 * Parses an `Origin` or `Referer` value into what patterns compare. Only
 * http(s) URLs without userinfo are accepted; an `Origin` must be a bare
 * origin (RFC 6454 §7: scheme, host, optional port; no path or query).
 */
function parseCandidate(value: string, isOrigin: boolean): Candidate | null {
  if (value.length > MAX_HEADER_LENGTH) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const scheme = url.protocol === "https:" ? "https" : url.protocol === "http:" ? "http" : null;
  if (scheme === null) return null;
  // `https://example.com@evil.com` is the host evil.com with a username;
  // refuse any userinfo, even an empty one the parser drops (`https://@x`).
  if (url.username !== "" || url.password !== "" || hasUserinfo(value)) return null;
  if (isOrigin && (url.pathname !== "/" || url.search !== "" || url.hash !== "")) return null;
  const host = stripDot(url.hostname);
  if (host === null) return null;
  const defaultPort = url.port === "";
  return { scheme, host, port: defaultPort ? DEFAULT_PORT[scheme] : Number(url.port), defaultPort };
}

/** True when the authority of an http(s) URL string contains an `@`, even an empty userinfo. */
function hasUserinfo(value: string): boolean {
  // The URL parser accepts `https:host`, `https:/host` and `https:\\host` alike.
  let i = value.indexOf(":") + 1;
  while (i < value.length && (value[i] === "/" || value[i] === "\\")) i++;
  for (; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "@") return true;
    if (ch === "/" || ch === "\\" || ch === "?" || ch === "#") return false;
  }
  return false;
}

function patternAccepts(p: DomainPattern, c: Candidate): boolean {
  if (p.scheme !== null && p.scheme !== c.scheme) return false;
  return p.port === null ? c.defaultPort : p.port === c.port;
}

function push(map: Map<string, DomainPattern[]>, key: string, p: DomainPattern): void {
  const list = map.get(key);
  if (list) list.push(p);
  else map.set(key, [p]);
}

/**
 * Compiles a list of allowed-domain patterns into a matcher taking the
 * request's `Origin` and `Referer` header values.
 *
 * - An empty list allows every request, with or without headers.
 * - Otherwise `Origin` is used when present and non-empty, else `Referer`;
 *   with neither the request is denied. `Origin: null` (an opaque origin:
 *   sandboxed frame, `file:`, some redirects) is denied without looking at
 *   `Referer`.
 * - Invalid patterns match nothing (a list of only invalid patterns denies
 *   everything); so does a non-array argument.
 *
 * Exact hosts are looked up in a map, and wildcard patterns by each suffix of
 * the request host, so the cost does not grow with the list.
 *
 * @param patterns allowed-domain patterns (see {@link parseDomainPattern})
 * @returns a function of `(origin, referer)` telling whether the request may proceed
 * @example
 * ```ts
 * const allowed = compileDomains(["example.com", "*.example.com"]);
 * allowed("https://app.example.com", null);              // true
 * allowed(null, "https://example.com/pricing?plan=pro"); // true
 * allowed("https://example.com.evil.com", null);         // false
 * ```
 */
export function compileDomains(patterns: readonly string[]): DomainMatcher {
  if (Array.isArray(patterns) && patterns.length === 0) return () => true;
  const exact = new Map<string, DomainPattern[]>();
  const wild = new Map<string, DomainPattern[]>();
  for (const s of Array.isArray(patterns) ? patterns : []) {
    const p = parseDomainPattern(s);
    if (p !== null) push(p.wildcard ? wild : exact, p.host, p);
  }
  return (origin, referer): boolean => {
    let candidate: Candidate | null;
    if (typeof origin === "string" && origin !== "") {
      if (origin === "null") return false;
      candidate = parseCandidate(origin, true);
    } else if (typeof referer === "string" && referer !== "") {
      candidate = parseCandidate(referer, false);
    } else {
      return false;
    }
    if (candidate === null) return false;
    const host = candidate.host;
    for (const p of exact.get(host) ?? []) if (patternAccepts(p, candidate)) return true;
    if (wild.size === 0) return false;
    // Every strict suffix after a dot: a.b.example.com → b.example.com, example.com, com.
    for (let i = host.indexOf("."); i !== -1; i = host.indexOf(".", i + 1)) {
      for (const p of wild.get(host.slice(i + 1)) ?? []) if (patternAccepts(p, candidate)) return true;
    }
    return false;
  };
}

/**
 * Compiles `patterns` and matches one request; prefer {@link compileDomains}
 * when the same list is checked repeatedly.
 *
 * @param patterns allowed-domain patterns
 * @param origin the `Origin` header value, if any
 * @param referer the `Referer` header value, if any
 * @returns `true` when the request may proceed (see {@link compileDomains})
 * @example
 * ```ts
 * matchDomain(["*.example.com"], "https://api.example.com", null); // true
 * matchDomain(["*.example.com"], "https://example.com", null);     // false
 * ```
 */
export function matchDomain(
  patterns: readonly string[],
  origin: string | null | undefined,
  referer: string | null | undefined,
): boolean {
  return compileDomains(patterns)(origin, referer);
}
