/**
 * Which IP address is the client's, for `keyward/policy`.
 *
 * By default the answer is the address of the socket, and forwarding headers
 * are never read: anyone can send `X-Forwarded-For: 127.0.0.1`. Behind
 * reverse proxies, list them in `trustedProxies`; then the chosen header is
 * read, and only as far as the trusted proxies vouch for it:
 *
 * Each proxy appends the address it received the connection from to the
 * right of the list, so the entries a client wrote itself are on the left.
 * The resolver walks from the right, skipping entries that are trusted
 * proxies, and returns the first untrusted one, the address the outermost
 * trusted proxy saw. A client that prepends fake entries only adds entries
 * left of that one, which are never read. If every entry is trusted the
 * leftmost is returned (a request from inside the proxy network). A
 * malformed entry met on the walk (`unknown`, an obfuscated RFC 7239
 * identifier, garbage) makes the answer `null`, and callers deny.
 *
 * Returned addresses are normalised: IPv4-mapped IPv6 becomes dotted IPv4,
 * IPv6 takes its RFC 5952 form (lowercase, compressed).
 *
 * A trusted block is a promise that every address in it is one of your
 * proxies: `0.0.0.0/0` or `::/0` would let any client choose its address
 * with one header, so a `/0` is refused unless `allowCatchAllRanges` says
 * otherwise, and a block wider than a /8 (IPv4) or a /32 (IPv6, outside the
 * non-routable fc00::/7 and fe80::/10) is reported through `onWarning`.
 *
 * @module keyward/policy
 */
import { ConfigError } from "../errors.js";
import { type Cidr, compileIpAllowlist, formatIp, type IpMatcher, parseCidr, parseIp } from "./ip.js";

/** The forwarding header a resolver reads when the socket is a trusted proxy. */
export type ForwardingHeader = "x-forwarded-for" | "forwarded";

/** Options of {@link createClientIpResolver}. */
export interface ClientIpOptions {
  /**
   * CIDR blocks (or bare addresses) of the reverse proxies in front of the
   * server. Empty or absent: headers are ignored and the socket address is
   * the client's.
   */
  trustedProxies?: readonly string[] | undefined;
  /** Header the proxies append to; `x-forwarded-for` unless set. */
  header?: ForwardingHeader | undefined;
  /**
   * Accept a `/0` block (`0.0.0.0/0`, `::/0`, `::ffff:0:0/96`) in
   * `trustedProxies`: every peer is then a trusted proxy and any client can
   * pick its own address with the forwarding header. Default false: such a
   * block throws `INVALID_CONFIG`. Only for a server that nothing but your
   * proxies can reach (a private network, a platform that strips the header).
   */
  allowCatchAllRanges?: boolean | undefined;
  /**
   * Called once per trusted block wider than a /8 (IPv4) or a /32 (IPv6,
   * except inside fc00::/7 and fe80::/10), when the resolver is created.
   * Default: `console.warn` of the message. Pass `() => {}` to silence it,
   * or route it to your logger.
   */
  onWarning?: ((warning: ConfigWarning) => void) | undefined;
}

/** A configuration that works but is probably not what was meant. */
export interface ConfigWarning {
  /**
   * Stable code: `WIDE_TRUSTED_RANGE`, a trusted proxy block wider than a /8
   * or a /32; `STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT` (from `new Keyward`), a
   * store whose calls block the thread for as long as `lookupTimeoutMs` or
   * longer (SQLite's `requestBusyTimeoutMs`), which that timeout cannot cut off.
   */
  readonly code: "WIDE_TRUSTED_RANGE" | "STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT";
  /** The option, e.g. `trustedProxies[2]`. */
  readonly field: string;
  /** A fixed description naming the option and the block. */
  readonly message: string;
}

/** The part of a Fetch API `Headers` object a resolver calls. */
export interface HeaderSource {
  /** The field's value (several lines joined with `, `), or null when absent. */
  get(name: string): string | null;
}

/** Resolves the client address of one request; never throws. */
export type ClientIpResolver = (socketIp: string | null | undefined, headers: HeaderSource) => string | null;

/** Forwarding header values longer than this are refused (answer `null`). */
const MAX_HEADER_LENGTH = 8192;
/** A list with more entries than this is refused (answer `null`). */
const MAX_ENTRIES = 64;

/** Narrowest prefix that is not "very wide" for a trusted proxy block: a /8 of IPv4, a /32 of IPv6 (an RIR allocation). */
const WIDE_PREFIX = { 4: 8, 6: 32 } as const;

/** IPv6 blocks no client on the internet can come from: unique local fc00::/7 (RFC 4193) and link-local fe80::/10 (RFC 4291 §2.5.6). */
function isNonRoutableV6(c: Cidr): boolean {
  const [a, b] = [c.bytes[0]!, c.bytes[1]!];
  return (c.prefix >= 7 && (a & 0xfe) === 0xfc) || (c.prefix >= 10 && a === 0xfe && (b & 0xc0) === 0x80);
}

/** Socket addresses remembered by one resolver, normalised. */
const MAX_REMEMBERED_SOCKETS = 1024;
/** Longest textual address kept in that memory (a scoped IPv6 with a port). */
const MAX_ADDRESS_LENGTH = 64;

/** Strict parse (see `parseIp`) and canonical form, or null. */
function normalize(ip: string): string | null {
  const parsed = parseIp(ip);
  return parsed === null ? null : formatIp(parsed);
}

/** True when `s` is 1–5 decimal digits: a port suffix, which is dropped. */
function isPort(s: string): boolean {
  return s.length >= 1 && s.length <= 5 && /^[0-9]+$/.test(s);
}

/**
 * Reads one node of a forwarding list: `a.b.c.d`, `a.b.c.d:port`,
 * `[v6]`, `[v6]:port` or a bare `v6`, and returns its canonical address.
 * For `Forwarded` (RFC 7239 §6) IPv6 must be bracketed, and an obfuscated
 * port (`_abc`) is accepted since only the address is used.
 */
export function parseNode(node: string, forwarded: boolean): string | null {
  let addr = node;
  let port: string | null = null;
  if (node.startsWith("[")) {
    const close = node.indexOf("]");
    if (close === -1) return null;
    addr = node.slice(1, close);
    const after = node.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return null;
      port = after.slice(1);
    }
    // Inside brackets only IPv6 is valid (RFC 3986 §3.2.2).
    if (addr.indexOf(":") === -1) return null;
  } else {
    const colon = node.indexOf(":");
    // One colon: IPv4 with a port; several: a bare IPv6 address, which
    // RFC 7239 §6 forbids (`for=2001:db8::1:80` is ambiguous).
    if (colon !== -1 && node.indexOf(":", colon + 1) === -1) {
      addr = node.slice(0, colon);
      port = node.slice(colon + 1);
      if (addr.indexOf(".") === -1) return null;
    } else if (colon !== -1 && forwarded) {
      return null;
    }
  }
  if (port !== null && !isPort(port) && !(forwarded && /^_[A-Za-z0-9._-]{1,32}$/.test(port))) return null;
  return normalize(addr);
}

/** Splits an `X-Forwarded-For` value into trimmed entries, or null when too many. */
function splitXff(value: string): string[] | null {
  const parts = value.split(",", MAX_ENTRIES + 1);
  if (parts.length > MAX_ENTRIES) return null;
  return parts.map((p) => p.trim());
}

const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Splits a `Forwarded` value (RFC 7239 §4) into the `for=` node of each
 * element, left to right. An element without exactly one `for` parameter
 * gives `""` (malformed when walked). Returns null on a syntax error of the
 * whole value (unbalanced quotes, bad parameter names) or too many elements.
 * Linear in the length of `value`. `protos`, when given, gains each
 * element's `proto=` value (RFC 7239 §5.4), lowercased, or null, in the
 * same order.
 */
export function splitForwarded(value: string, protos?: (string | null)[]): string[] | null {
  const out: string[] = [];
  let forValue: string | null = null;
  let forCount = 0;
  let proto: string | null = null;
  let i = 0;
  const n = value.length;
  const skipOws = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  for (;;) {
    // One forwarded-pair: token "=" ( token / quoted-string ).
    skipOws();
    const nameStart = i;
    while (i < n && value[i] !== "=" && value[i] !== ";" && value[i] !== ",") i++;
    const name = value.slice(nameStart, i).toLowerCase();
    if (i >= n || value[i] !== "=" || !TCHAR.test(name)) return null;
    i++;
    let v: string;
    if (value[i] === '"') {
      // quoted-string (RFC 9110 §5.6.4): qdtext and backslash quoted-pairs.
      i++;
      let buf = "";
      for (;;) {
        if (i >= n) return null;
        const ch = value[i]!;
        if (ch === '"') break;
        if (ch === "\\") {
          i++;
          if (i >= n) return null;
        }
        buf += value[i];
        i++;
      }
      i++;
      v = buf;
    } else {
      const start = i;
      while (i < n && value[i] !== ";" && value[i] !== "," && value[i] !== " " && value[i] !== "\t") i++;
      v = value.slice(start, i);
      if (!TCHAR.test(v) && !/^[0-9A-Za-z.:[\]_-]+$/.test(v)) return null;
    }
    if (name === "for") {
      forCount++;
      forValue = v;
    } else if (name === "proto") {
      proto = v.toLowerCase();
    }
    skipOws();
    if (i >= n || value[i] === ",") {
      // RFC 7239 §4: a parameter MUST NOT occur more than once per element.
      out.push(forCount === 1 && forValue !== null ? forValue : "");
      protos?.push(proto);
      if (out.length > MAX_ENTRIES) return null;
      forValue = null;
      forCount = 0;
      proto = null;
      if (i >= n) return out;
      i++;
      skipOws();
      if (i >= n) return null; // trailing comma
    } else if (value[i] === ";") {
      i++;
    } else {
      return null;
    }
  }
}

/** The default `onWarning`: `console.warn` of the message. */
export function warnOnConsole(warning: ConfigWarning): void {
  console.warn(`keyward: ${warning.message}`);
}

function readHeader(headers: HeaderSource, name: string): string | null {
  try {
    const v = headers.get(name);
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}

/**
 * Creates a function that tells which address a request came from.
 *
 * Without `trustedProxies` it returns the (normalised) socket address and
 * never reads a header. With them: when the socket is not a trusted proxy,
 * its address; otherwise the rightmost untrusted entry of the header (or the
 * leftmost entry when all are trusted, or the socket address when the header
 * is absent); `null` when an entry met on the way is malformed, the header is
 * over 8 KiB or has more than 64 entries, or the socket address does not
 * parse. Multiple header lines, combined by `Headers` with `", "`, form one
 * list.
 *
 * @param options trusted proxies (CIDR blocks), the header they append to, and the guardrails on wide blocks
 * @returns the resolver; it never throws
 * @throws {ConfigError} `INVALID_CONFIG` when `trustedProxies` holds an invalid block, or a `/0` without
 *   `allowCatchAllRanges`, or `header` is unknown
 * @example
 * ```ts
 * const clientIp = createClientIpResolver({ trustedProxies: ["10.0.0.0/8"] });
 * const headers = new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.0.0.2" });
 * clientIp("10.0.0.1", headers); // "203.0.113.7"
 * clientIp("198.51.100.1", headers); // "198.51.100.1" (not a proxy: header ignored)
 * ```
 */
export function createClientIpResolver(options: ClientIpOptions = {}): ClientIpResolver {
  if (options === null || typeof options !== "object") {
    throw new ConfigError("", "options must be an object");
  }
  const { trustedProxies = [], header = "x-forwarded-for", allowCatchAllRanges = false, onWarning = warnOnConsole } = options;
  if (header !== "x-forwarded-for" && header !== "forwarded") {
    throw new ConfigError("header", 'must be "x-forwarded-for" or "forwarded"');
  }
  if (!Array.isArray(trustedProxies)) throw new ConfigError("trustedProxies", "must be an array of CIDR blocks");
  if (typeof allowCatchAllRanges !== "boolean") throw new ConfigError("allowCatchAllRanges", "must be a boolean");
  if (typeof onWarning !== "function") throw new ConfigError("onWarning", "must be a function");
  const wide: ConfigWarning[] = [];
  trustedProxies.forEach((entry, i) => {
    const field = `trustedProxies[${i}]`;
    const cidr = parseCidr(entry);
    if (cidr === null) throw new ConfigError(field, "must be an IPv4 or IPv6 CIDR block or address");
    if (cidr.prefix === 0 && !allowCatchAllRanges) {
      throw new ConfigError(field, "a /0 block trusts every peer, so any client can set its own address; set allowCatchAllRanges to mean it");
    }
    if (cidr.prefix > 0 && cidr.prefix < WIDE_PREFIX[cidr.version] && !(cidr.version === 6 && isNonRoutableV6(cidr))) {
      const block = `${formatIp(cidr)}/${cidr.prefix}`;
      const message = `${field} (${block}) is very wide: any client in it can set its own address with the ${header} header`;
      wide.push({ code: "WIDE_TRUSTED_RANGE", field, message });
    }
  });
  // Reported only once the whole list is valid, so a throwing config warns about nothing.
  for (const w of wide) onWarning(w);
  // A keep-alive connection shows the same socket address on every request:
  // each distinct one is parsed once (bounded; longer than any address is not kept).
  const known = new Map<string, string | null>();
  const socketOnly = (socketIp: string | null | undefined): string | null => {
    if (typeof socketIp !== "string") return null;
    let ip = known.get(socketIp);
    if (ip === undefined) {
      ip = normalize(socketIp);
      if (socketIp.length > MAX_ADDRESS_LENGTH) return ip;
      if (known.size >= MAX_REMEMBERED_SOCKETS) known.clear();
      known.set(socketIp, ip);
    }
    return ip;
  };
  if (trustedProxies.length === 0) return socketOnly;

  const isTrusted: IpMatcher = compileIpAllowlist([...trustedProxies]);
  return (socketIp, headers) => {
    const socket = socketOnly(socketIp);
    if (socket === null || !isTrusted(socket)) return socket;
    const value = readHeader(headers, header);
    if (value === null || value.trim() === "") return socket;
    if (value.length > MAX_HEADER_LENGTH) return null;
    const entries = header === "forwarded" ? splitForwarded(value) : splitXff(value);
    if (entries === null) return null;
    let ip: string | null = null;
    for (let i = entries.length - 1; i >= 0; i--) {
      ip = parseNode(entries[i]!, header === "forwarded");
      if (ip === null || !isTrusted(ip)) return ip;
    }
    return ip;
  };
}
