/**
 * Was a request carried over TLS? For the `requireHttps` rule of
 * `keyward/policy`: a bearer token sent over plain `http` crossed the network
 * in cleartext, readable and replayable by anyone on the path (RFC 6750 §5.3:
 * "always use TLS (https)").
 *
 * The scheme is the request URL's, except behind a trusted proxy (the socket
 * address is in `trustedProxies`): then the proxy's forwarding header says
 * how the client connected, `X-Forwarded-Proto` (with `forwardedHeader:
 * "x-forwarded-for"`) or the `proto=` parameters of `Forwarded` (RFC 7239
 * §5.4). Every proxy on the way may add a value; the request counts as
 * secure only when every value is `https`, so a client that writes its own
 * `https` in front of a proxy that appends `http` gains nothing. Of
 * `Forwarded`, only the elements trusted proxies appended are read (as
 * the client's address is): a `proto=https` the client wrote left of them,
 * before a proxy that appends no `proto=`, is not.
 *
 * Development on the same machine is exempt: a URL whose host is
 * `localhost`, `127.0.0.0/8` or `[::1]`, from a client that is itself on a
 * loopback address when the socket address is known. The client is the one
 * `trustedProxies` resolve: behind a trusted proxy, the address it forwards
 * (`X-Forwarded-For` or `Forwarded`), not the proxy's own. So a remote
 * client sending `Host: localhost`, directly or through a proxy on the same
 * machine (whose own Host is often `localhost:3000` or `127.0.0.1:3000`), is
 * not exempt. A request that carries a proxy's header (`X-Forwarded-For`,
 * `Forwarded`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP`) was
 * proxied for some client: it is exempt only when a trusted proxy named that
 * client, in the configured header, as a loopback one. A proxy that is not
 * listed in `trustedProxies` (nginx's default `proxy_pass
 * http://127.0.0.1:3000`) exempts no one.
 *
 * @module keyward/policy
 */
import { detach } from "../lib/detach.js";
import { type ClientIpResolver, createClientIpResolver, type ForwardingHeader, type HeaderSource, parseNode, splitForwarded } from "./client-ip.js";
import { compileIpAllowlist, isLoopbackIp } from "./ip.js";

/** How a request arrived: over TLS, over plain http, or plain http on the loopback (exempt). */
export type Transport = "https" | "http" | "loopback";

/**
 * Resolves the transport of one request; never throws. `client`: the
 * request's client, whose `ip` is read only when the answer depends on it
 * (plain http to a loopback host): its address as
 * {@link createClientIpResolver} with the same `trustedProxies` and `header`
 * resolves it (the verifier passes its request context, which resolves it
 * once per request). Without it the resolver resolves the address itself.
 */
export type TransportResolver = (
  url: string,
  socketIp: string | null | undefined,
  headers: HeaderSource,
  client?: { readonly ip: string | null },
) => Transport;

/** Headers a reverse proxy sets: a request that carries one came through a proxy, for some client. */
const PROXY_HEADERS = ["x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"] as const;

// A forwarding header longer than this is not believed (the request counts as http).
const MAX_HEADER_LENGTH = 8192;

export { isLoopbackIp };

function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost") return true;
  return isLoopbackIp(hostname.startsWith("[") ? hostname.slice(1, -1) : hostname);
}

/**
 * The `proto` values of a forwarding header a trusted proxy vouches for,
 * lowercased; null when there are none; `"unparsed"` for a `Forwarded`
 * value that does not parse. `X-Forwarded-Proto` holds no more than
 * schemes: every value is read (a client's `https` before a proxy's `http`
 * gains nothing). Of `Forwarded` (RFC 7239 §4), only the elements trusted
 * proxies appended: from the right, each one whose `for=` is a trusted
 * proxy vouches for the element before it, up to the one naming the
 * client; the elements left of it are the client's own (a `proto=https`
 * written before a proxy that appends no `proto=`).
 */
function forwardedProtos(value: string, header: ForwardingHeader, isTrusted: (ip: string) => boolean): string[] | null | "unparsed" {
  if (header === "x-forwarded-for") return value.split(",").map((v) => v.trim().toLowerCase());
  const protos: (string | null)[] = [];
  const nodes = splitForwarded(value, protos);
  if (nodes === null) return "unparsed";
  const out: string[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const proto = protos[i];
    if (proto !== null && proto !== undefined) out.push(proto);
    const ip = parseNode(nodes[i]!, true);
    if (ip === null || !isTrusted(ip)) break;
  }
  return out.length === 0 ? null : out;
}

/**
 * Creates a function that tells how a request arrived.
 *
 * @param options the trusted proxies (already validated CIDR blocks) and the header they set
 * @returns the resolver; it never throws
 * @throws {ConfigError} `INVALID_CONFIG` when a block of `trustedProxies` or `header` is not valid
 * @example
 * ```ts
 * const transport = createTransportResolver({ trustedProxies: ["10.0.0.0/8"] });
 * transport("http://api.example.com/x", "10.0.0.2", new Headers({ "x-forwarded-proto": "https" })); // "https"
 * transport("http://api.example.com/x", "203.0.113.7", new Headers({ "x-forwarded-proto": "https" })); // "http"
 * transport("http://localhost:3000/x", "127.0.0.1", new Headers()); // "loopback"
 * // Through a proxy on the same machine: the client is the forwarded address.
 * const proxied = createTransportResolver({ trustedProxies: ["127.0.0.1"] });
 * proxied("http://localhost:3000/x", "127.0.0.1", new Headers({ "x-forwarded-for": "203.0.113.9" })); // "http"
 * // Through one not listed in trustedProxies: proxied, for a client not known.
 * transport("http://127.0.0.1:3000/x", "127.0.0.1", new Headers({ "x-forwarded-for": "203.0.113.9" })); // "http"
 * ```
 */
export function createTransportResolver(options: { trustedProxies?: readonly string[] | undefined; header?: ForwardingHeader | undefined } = {}): TransportResolver {
  const { trustedProxies = [], header = "x-forwarded-for" } = options;
  const isTrusted = trustedProxies.length === 0 ? null : compileIpAllowlist([...trustedProxies]);
  const name = header === "x-forwarded-for" ? "x-forwarded-proto" : "forwarded";
  // The client, for a caller that does not give it (the verifier does), as
  // the client-IP rule resolves it: built on first need (the blocks are
  // already validated, and warned about, where they were given).
  let ownClientIp: ClientIpResolver | null = null;
  const plain = new Map<string, Transport>();
  let last: { origin: string; transport: Transport } | null = null;
  return (url, socketIp, headers, resolved) => {
    try {
      const trusted = isTrusted !== null && typeof socketIp === "string" && isTrusted(socketIp);
      if (trusted && isTrusted !== null) {
        const value = headers.get(name);
        if (typeof value === "string" && value.trim() !== "") {
          if (value.length > MAX_HEADER_LENGTH) return "http";
          const protos = forwardedProtos(value, header, isTrusted);
          if (protos === "unparsed") return "http";
          if (protos !== null) return protos.every((p) => p === "https") ? "https" : "http";
        }
      }
      // The common case without parsing: a Request's url is already normalised
      // (lowercase scheme). The character first: a startsWith costs more.
      if (url.charCodeAt(4) === 115 /* s */ && url.startsWith("https://")) return "https";
      // The scheme and authority, remembered per URL up to its path, so that
      // plain http (local development, a proxy not listed in trustedProxies)
      // parses each origin once, not once per request. The last answer
      // first, compared in place (a server mostly sees one origin): a URL
      // that starts with its origin, which holds the "//" the authority
      // follows, and ends its authority there, has that origin.
      let transport: Transport;
      if (last !== null && url.startsWith(last.origin) && isAuthorityEnd(url, last.origin.length)) transport = last.transport;
      else {
        const origin = url.slice(0, authorityEnd(url));
        const known = plain.get(origin);
        transport = known ?? plainTransport(url);
        last = known !== undefined || remember(plain, origin, transport) ? { origin, transport } : null;
      }
      if (transport !== "loopback") return transport;
      // A loopback host: exempt only for a client on this machine (unknown
      // without a socket address; one that does not resolve, from a
      // malformed forwarding header, is no address at all).
      if (socketIp !== null && socketIp !== undefined) {
        let client: string | null;
        if (resolved !== undefined) client = resolved.ip;
        else {
          ownClientIp ??= createClientIpResolver({ trustedProxies, header, allowCatchAllRanges: true, onWarning: () => {} });
          client = ownClientIp(socketIp, headers);
        }
        if (client === null || !isLoopbackIp(client)) return "http";
      }
      // A proxied request is the client's its proxy named: exempt only when
      // a trusted proxy named a loopback one in the configured header.
      return (trusted && hasValue(headers, header)) || !wasProxied(headers) ? "loopback" : "http";
    } catch {
      return "http";
    }
  };
}

/** Whether a header is sent with a value that is not blank. */
function hasValue(headers: HeaderSource, name: string): boolean {
  const value = headers.get(name);
  return typeof value === "string" && value.trim() !== "";
}

/** Whether a request carries any header a proxy sets (even empty): it came through a proxy. */
function wasProxied(headers: HeaderSource): boolean {
  for (const name of PROXY_HEADERS) if (headers.get(name) !== null) return true;
  return false;
}

/**
 * An origin whose host the URL parser reads from it alone: a scheme, "//"
 * and an authority of printable ASCII without a backslash. Of another
 * origin (`http:///localhost/`, `http://\\`, `http:/host`, a space or a tab
 * in it) the parser may read the host from the path after it.
 */
const SELF_CONTAINED_ORIGIN = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[\x21-\x5b\x5d-\x7e]+$/;

/**
 * Remembers the transport of a self-contained origin (a bounded memory:
 * cleared when full); whether it was remembered.
 */
function remember(plain: Map<string, Transport>, origin: string, transport: Transport): boolean {
  if (!SELF_CONTAINED_ORIGIN.test(origin)) return false;
  if (plain.size >= MAX_REMEMBERED) plain.clear();
  // A copy: the origin was cut from the request's URL, whose whole text a view would keep.
  plain.set(detach(origin), transport);
  return true;
}

/** Origins remembered by one resolver (the Host is the client's: bounded). */
const MAX_REMEMBERED = 256;

/** Whether the authority of a URL may end at `i`: at or past its end, or at "/", "?" or "#". */
function isAuthorityEnd(url: string, i: number): boolean {
  if (i >= url.length) return true;
  const c = url.charCodeAt(i);
  return c === 47 || c === 63 || c === 35;
}

/** Where a URL's authority ends: its first "/", "?" or "#" after the scheme's "//" (or its end). */
function authorityEnd(url: string): number {
  let i = url.indexOf("//") + 2;
  while (!isAuthorityEnd(url, i)) i++;
  return Math.min(i, url.length);
}

/** The transport of a URL that does not start with `https://`, parsed: `loopback` for plain http to a loopback host (its client still to be checked). */
function plainTransport(url: string): Transport {
  try {
    const u = new URL(url);
    if (u.protocol === "https:") return "https";
    return isLoopbackHost(u.hostname) ? "loopback" : "http";
  } catch {
    return "http";
  }
}
