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
 * RFC 1034 §3.1) is ignored on both sides. A pattern may be written in
 * Unicode, but only as the host it names: a pattern that the URL parser
 * would turn into another host (a character IDNA drops or maps, such as a
 * soft hyphen or a fullwidth letter; an IPv4 address in a short, octal or hex
 * form such as `127.1`) is refused. A header must hold its host in ASCII, as
 * browsers send it (a non-ASCII character there is denied). Patterns are normalised with the
 * `URL` global, which every runtime has; request headers are split by hand
 * (see {@link compileDomains}) and go through `URL` only when their host is
 * not already in that serialised form.
 *
 * `Origin` and `Referer` are set by browsers, which is what this protects:
 * a page on another site cannot use a publishable token. A non-browser client
 * can send any header it likes, so domain checks are no defence against it.
 *
 * Every function here is pure and never throws on any input.
 *
 * @module keyward/policy
 */

import { decodePunycode } from "../lib/punycode.js";
import { parseIp } from "./ip.js";

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

/**
 * Longest host compared, serialised and without a trailing dot: the most a
 * DNS name can have (RFC 1035 §2.3.4: 255 octets on the wire). A request
 * whose Origin or Referer names a longer host is denied before any matching,
 * and a pattern with a longer host is refused.
 */
export const MAX_HOST_LENGTH = 253;
/** Longest pattern accepted: a 253-character name, scheme, `*.` and port, with room to spare. */
const MAX_PATTERN_LENGTH = 300;
/** Longest raw authority read from a header: the host cap, a trailing dot, brackets and `:65535`. */
const MAX_AUTHORITY_LENGTH = MAX_HOST_LENGTH + 1 + 2 + 6;
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
  if (h === "" || h.length > MAX_HOST_LENGTH || h.startsWith(".") || h.includes("..") || h.endsWith(".")) return null;
  return h;
}

/**
 * Whether the URL parser's `host` is the host that was `written` (lowercase,
 * with at most a trailing dot more), not another one it was rewritten into:
 * - an IPv4 address only in dotted decimal without leading zeros, as
 *   {@link parseIp} reads it: `127.1`, `0x7f.0.0.1`, `1.2.3.04` and
 *   `2130706433` are read by the URL parser (as by `inet_aton`) as an
 *   address that no one wrote;
 * - an IDN label in Unicode only when it is exactly what its punycode
 *   decodes to (in NFC): UTS #46 drops a soft hyphen or a zero-width joiner
 *   and maps fullwidth and circled letters and `。`, so `ｅｘａｍｐｌｅ．ｃｏｍ`
 *   or `exam\u00adple.com` would allow `example.com`.
 * An IPv6 literal is only respelled (RFC 5952): the same address.
 */
function namesWrittenHost(written: string, host: string): boolean {
  if (host.startsWith("[")) return true;
  const labels = (written.endsWith(".") ? written.slice(0, -1) : written).split(".");
  const parts = host.split(".");
  if (labels.length !== parts.length) return false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const label = labels[i]!;
    if (part === label) continue;
    if (!part.startsWith("xn--") || decodePunycode(part.slice(4)) !== label.normalize("NFC")) return false;
  }
  return true;
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
 * parseDomainPattern("127.1");            // null (the URL parser reads 127.0.0.1: another host than written)
 * ```
 *
 * Hosts longer than {@link MAX_HOST_LENGTH} are refused, and so is a host
 * the URL parser would rewrite into another one (see the module comment). Whether a pattern
 * covers a public suffix (`*.com`) is checked where tokens are created, with
 * the Public Suffix List, not here: this parser stays small enough for a
 * browser.
 */
export function parseDomainPattern(s: unknown): DomainPattern | null {
  if (typeof s !== "string" || s.length === 0 || s.length > MAX_PATTERN_LENGTH) return null;
  // A capital sigma as IDNA maps it, to σ: toLowerCase writes the final ς at a word's end (`example.ΟΔΟΣ`), another host.
  let rest = s.replaceAll("\u03a3", "\u03c3").toLowerCase();
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
    if (c <= 0x20 || c === 0x7f || c === 47 || c === 92 || c === 63 || c === 35 || c === 64 || c === 37) return null; // / \ ? # @ %
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
  // A host already in serialised form (what tokens store once normalised) needs no URL parser.
  const host = isSerializedDomain(hostText) ? stripDot(hostText) : normalizeHost(hostText);
  if (host === null || !namesWrittenHost(hostText, host)) return null;
  // A wildcard only makes sense over a domain name, not an IP literal.
  if (wildcard && (host.startsWith("[") || parseIp(host) !== null)) return null;
  return { scheme, host, wildcard, port };
}

interface Candidate {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** The URL carried no explicit port (it is the scheme's default). */
  defaultPort: boolean;
}

/** True when `value` starts with `prefix` (lowercase ASCII), ignoring ASCII case. */
function startsWithCi(value: string, prefix: string): boolean {
  if (value.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = value.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

/** Digits only, as the WHATWG URL port state reads them; the value, or -1 (over 65535 or not digits). */
function readPort(s: string): number {
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
    if (v > 65535) return -1;
  }
  return v;
}

/**
 * True when the URL parser would serialise `h` unchanged: lowercase letters,
 * digits, `-`, `_` and dots, no punycode label to validate (`xn--`), and not
 * a number-like last label that the URL parser would read as IPv4 (WHATWG
 * URL "ends in a number"), unless it is already a canonical dotted quad
 * (which `parseIp` accepts: decimal, no leading zeros).
 */
function isSerializedDomain(h: string): boolean {
  let labelStart = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c === 46 /* . */) {
      labelStart = i + 1;
      continue;
    }
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
    if (!ok) return false;
    if (i === labelStart && h.startsWith("xn--", i)) return false;
  }
  const end = h.endsWith(".") ? h.length - 1 : h.length;
  const last = h.slice(h.lastIndexOf(".", end - 1) + 1, end);
  if (!/^(?:[0-9]+|0x[0-9a-f]*)$/.test(last)) return true;
  return parseIp(h.slice(0, end)) !== null;
}

/**
 * Parses an `Origin` or `Referer` value into what patterns compare.
 *
 * Browsers send these as serialised URLs (WHATWG URL; an Origin as
 * RFC 6454 §6.2 `scheme "://" host [ ":" port ]`), so anything else is
 * malformed and denied: the value must begin `http://` or `https://`, and
 * its authority (up to the first `/`, `?` or `#`) must hold neither
 * userinfo (`@`) nor a backslash: `https://app.example.com\@evil.com/` is
 * app.example.com to the URL parser but evil.com to others, and no browser
 * sends it; nor what the URL parser would strip, decode or map before
 * reading the host (spaces, tabs, line breaks and other controls,
 * `%`-escapes, and any non-ASCII character: IDNA drops a soft hyphen or a
 * zero-width space and maps `。` and fullwidth letters, while a browser
 * always sends an IDN host in punycode). An Origin may have nothing after
 * its authority but one `/`.
 * The host is taken as is when it is already in serialised form, else
 * normalised by the `URL` parser (uppercase, punycode validation, IPv4 and IPv6 forms); a host over
 * {@link MAX_HOST_LENGTH} characters is refused before that.
 */
function parseCandidate(value: string, isOrigin: boolean): Candidate | null {
  if (value.length > MAX_HEADER_LENGTH) return null;
  const scheme = startsWithCi(value, "https://") ? "https" : startsWithCi(value, "http://") ? "http" : null;
  if (scheme === null) return null;
  const from = scheme.length + 3;
  let end = from;
  while (end < value.length) {
    const c = value.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    // Userinfo, a backslash, and what the URL parser strips, decodes or maps
    // (C0 controls, spaces, tabs and line breaks; DEL; "%"; non-ASCII, which
    // IDNA maps): never in a serialised authority.
    if (c === 64 /* @ */ || c === 92 /* \ */ || c === 37 /* % */ || c <= 32 || c >= 127) return null;
    end++;
  }
  if (end === from || end - from > MAX_AUTHORITY_LENGTH) return null;
  if (isOrigin && end !== value.length && !(end === value.length - 1 && value[end] === "/")) return null;
  const authority = value.slice(from, end);
  // The port follows the last colon after any IPv6 literal's closing bracket.
  const colon = authority.lastIndexOf(":");
  const hasPort = colon > authority.lastIndexOf("]");
  const hostText = hasPort ? authority.slice(0, colon) : authority;
  const portText = hasPort ? authority.slice(colon + 1) : "";
  const port = readPort(portText);
  if (!isSerializedDomain(hostText) || port < 0) return normalizeCandidate(value, scheme);
  const host = stripDot(hostText);
  if (host === null) return null;
  const defaultPort = portText === "" || port === DEFAULT_PORT[scheme];
  return { scheme, host, port: defaultPort ? DEFAULT_PORT[scheme] : port, defaultPort };
}

/** The `URL` parser's reading of a value whose host or port is not in serialised form. */
function normalizeCandidate(value: string, scheme: "http" | "https"): Candidate | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const host = stripDot(url.hostname);
  if (host === null) return null;
  const defaultPort = url.port === "";
  return { scheme, host, port: defaultPort ? DEFAULT_PORT[scheme] : Number(url.port), defaultPort };
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

/** A node of the wildcard index: one DNS label per level, read from the right. */
interface LabelNode {
  next: Map<string, LabelNode> | null;
  /** Wildcard patterns whose base is the name spelled from the root to here. */
  readonly patterns: DomainPattern[];
}

function insertWildcard(root: LabelNode, p: DomainPattern): void {
  let node = root;
  for (const label of p.host.split(".").reverse()) {
    node.next ??= new Map();
    let child = node.next.get(label);
    if (!child) {
      child = { next: null, patterns: [] };
      node.next.set(label, child);
    }
    node = child;
  }
  node.patterns.push(p);
}

/**
 * Does a wildcard pattern accept `c`? Walks the host's labels from the
 * right down the index; a base matched while labels remain on its left is a
 * strict suffix. Each label is read and looked up once: linear in the host.
 */
function wildcardAccepts(root: LabelNode, c: Candidate): boolean {
  const host = c.host;
  let node: LabelNode | undefined = root;
  let end = host.length;
  for (;;) {
    const dot = host.lastIndexOf(".", end - 1);
    node = node.next?.get(host.slice(dot + 1, end));
    if (node === undefined || dot === -1) return false;
    for (const p of node.patterns) if (patternAccepts(p, c)) return true;
    end = dot;
  }
}

/**
 * Compiles a list of allowed-domain patterns into a matcher taking the
 * request's `Origin` and `Referer` header values.
 *
 * - An empty list allows every request, with or without headers.
 * - Otherwise an `Origin` header, when present (a string, even empty), is
 *   the only one read: `Referer` is used only when there is no `Origin`
 *   (`null` or `undefined`). With neither the request is denied.
 *   `Origin: null` (an opaque origin: sandboxed frame, `file:`, some
 *   redirects) and an empty `Origin` are denied.
 * - A value that is not a serialised http(s) URL is denied: userinfo or a
 *   backslash before the path, whitespace, controls, `%`-escapes or
 *   non-ASCII characters in the host and port (an IDN host is sent in
 *   punycode), a host over {@link MAX_HOST_LENGTH} characters, an Origin
 *   with a path or query.
 * - Invalid patterns match nothing (a list of only invalid patterns denies
 *   everything); so does a non-array argument.
 *
 * Exact hosts are looked up in a map, and wildcard patterns in an index of
 * labels read from the right of the request host, so the cost is linear in
 * the host (capped) and does not grow with the list. The header value is
 * split by hand; the `URL` parser runs only for hosts not already in the
 * serialised form browsers send (uppercase, punycode, IP literals, odd ports).
 *
 * @param patterns allowed-domain patterns (see {@link parseDomainPattern})
 * @returns a function of `(origin, referer)` telling whether the request may proceed
 * @example
 * ```ts
 * const allowed = compileDomains(["example.com", "*.example.com"]);
 * allowed("https://app.example.com", null);              // true
 * allowed(null, "https://example.com/pricing?plan=pro"); // true
 * allowed("https://example.com.evil.com", null);         // false
 * allowed("", "https://example.com/");                   // false (an Origin, even empty, is authoritative)
 * ```
 */
export function compileDomains(patterns: readonly string[]): DomainMatcher {
  if (Array.isArray(patterns) && patterns.length === 0) return () => true;
  const exact = new Map<string, DomainPattern[]>();
  const wild: LabelNode = { next: null, patterns: [] };
  let wildcards = 0;
  for (const s of Array.isArray(patterns) ? patterns : []) {
    const p = parseDomainPattern(s);
    if (p === null) continue;
    if (p.wildcard) {
      insertWildcard(wild, p);
      wildcards++;
    } else push(exact, p.host, p);
  }
  return (origin, referer): boolean => {
    let candidate: Candidate | null;
    if (typeof origin === "string") {
      if (origin === "null") return false;
      candidate = parseCandidate(origin, true);
    } else if (typeof referer === "string" && referer !== "") {
      candidate = parseCandidate(referer, false);
    } else {
      return false;
    }
    if (candidate === null) return false;
    for (const p of exact.get(candidate.host) ?? []) if (patternAccepts(p, candidate)) return true;
    return wildcards !== 0 && wildcardAccepts(wild, candidate);
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
