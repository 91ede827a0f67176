import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIp } from "../../src/policy/ip.js";
import { createTransportResolver, isLoopbackIp } from "../../src/policy/transport.js";
import { liveStrings, SNAPSHOT_TEST_TIMEOUT_MS } from "../support/heap.js";

const none = new Headers();
const h = (init: Record<string, string>) => new Headers(init);

describe("isLoopbackIp", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.255.3.4", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["128.0.0.1", false],
    ["::2", false],
    ["0.0.0.0", false],
    ["localhost", false],
    ["", false],
  ])("%s: %s", (ip, expected) => expect(isLoopbackIp(ip)).toBe(expected));

  it("decides as the parsed address's bytes do, on any text (it builds no bytes itself)", () => {
    // The definition: 127.0.0.0/8 (an IPv4-mapped one included, which parseIp reads as IPv4) or ::1.
    const reference = (s: unknown) => {
      const p = parseIp(s);
      if (p === null) return false;
      return p.version === 4 ? p.bytes[0] === 127 : p.bytes.slice(0, 15).every((b) => b === 0) && p.bytes[15] === 1;
    };
    const loopbackish = fc.oneof(
      fc.tuple(fc.constantFrom(126, 127, 128), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join(".")),
      fc.tuple(fc.constantFrom("::ffff:", "::FFFF:", "0:0:0:0:0:ffff:", "::fffe:", "::"), fc.constantFrom(127, 128), fc.nat(255)).map(([p, a, b]) => `${p}${a}.0.0.${b}`),
      fc.constantFrom("::1", "::01", "0:0:0:0:0:0:0:1", "::0:1", "::1:0", "1::", "::", "::2", "[::1]", " 127.0.0.1", "127.0.0.01", "127.1"),
      fc.ipV4(),
      fc.ipV6(),
      fc.string(),
    );
    fc.assert(
      fc.property(loopbackish, (s) => {
        expect(isLoopbackIp(s)).toBe(reference(s));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("createTransportResolver", () => {
  const direct = createTransportResolver();
  const proxied = createTransportResolver({ trustedProxies: ["10.0.0.0/8"] });
  const forwarded = createTransportResolver({ trustedProxies: ["10.0.0.0/8"], header: "forwarded" });

  it("reads the URL's scheme without trusted proxies, and never a header", () => {
    expect(direct("https://api.example.com/x", "203.0.113.7", none)).toBe("https");
    expect(direct("http://api.example.com/x", "203.0.113.7", none)).toBe("http");
    expect(direct("http://api.example.com/x", "10.0.0.1", h({ "x-forwarded-proto": "https" }))).toBe("http");
  });

  it("exempts the loopback only when the peer is local too (Host: localhost from afar is not)", () => {
    for (const url of ["http://localhost:3000/x", "http://127.0.0.1/x", "http://127.9.9.9:8/x", "http://[::1]:3000/x"]) {
      expect(direct(url, "127.0.0.1", none)).toBe("loopback");
      expect(direct(url, "::1", none)).toBe("loopback");
      expect(direct(url, undefined, none)).toBe("loopback");
      expect(direct(url, "203.0.113.7", none)).toBe("http");
    }
    expect(direct("http://localhost.example.com/x", "127.0.0.1", none)).toBe("http");
    expect(direct("http://192.168.1.5/x", "127.0.0.1", none)).toBe("http");
  });

  it("behind a trusted proxy, exempts the loopback only when the forwarded client is local too", () => {
    // A proxy on the same machine that forwards plain http and sends no X-Forwarded-Proto.
    const local = createTransportResolver({ trustedProxies: ["127.0.0.1", "::1"] });
    const localForwarded = createTransportResolver({ trustedProxies: ["127.0.0.1"], header: "forwarded" });
    for (const url of ["http://localhost/x", "http://localhost:3000/x", "http://127.0.0.1:3000/x"]) {
      expect(local(url, "127.0.0.1", h({ "x-forwarded-for": "203.0.113.9" }))).toBe("http");
      expect(local(url, "::1", h({ "x-forwarded-for": "2001:db8::9" }))).toBe("http");
      expect(local(url, "127.0.0.1", h({ "x-forwarded-for": "127.0.0.1, 203.0.113.9" }))).toBe("http"); // the client wrote the first
      expect(localForwarded(url, "127.0.0.1", h({ forwarded: "for=203.0.113.9" }))).toBe("http");
      expect(local(url, "127.0.0.1", h({ "x-forwarded-for": "unknown" }))).toBe("http"); // no client known: not local
      // A client on the proxy's machine, or no forwarded address (the proxy is the client): development.
      expect(local(url, "127.0.0.1", h({ "x-forwarded-for": "127.0.0.1" }))).toBe("loopback");
      expect(localForwarded(url, "127.0.0.1", h({ forwarded: 'for="[::1]"' }))).toBe("loopback");
      expect(local(url, "127.0.0.1", none)).toBe("loopback");
    }
    // An untrusted peer's header does not name the client, but says the request was proxied: no exemption.
    expect(proxied("http://localhost/x", "127.0.0.1", h({ "x-forwarded-for": "203.0.113.9" }))).toBe("http");
  });

  it("a loopback request carrying a proxy's header, from a peer not listed in trustedProxies, was proxied: not exempt", () => {
    // nginx's default proxy_pass http://127.0.0.1:3000 sends Host: 127.0.0.1:3000 from the loopback.
    const headers = ["x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "X-Real-IP"];
    const values = ["203.0.113.9", "for=203.0.113.9", "http", "api.example.com", "127.0.0.1", ""];
    const localProxy = createTransportResolver({ trustedProxies: ["127.0.0.1"] });
    for (const url of ["http://127.0.0.1:3000/x", "http://localhost/x", "http://[::1]:8080/x"]) {
      for (const name of headers) {
        for (const value of values) {
          const proxiedHeaders = h({ [name]: value });
          for (const peer of ["127.0.0.1", "::1", undefined, null]) {
            expect(direct(url, peer, proxiedHeaders), `${url} ${name}: ${value} from ${peer}`).toBe("http");
            expect(proxied(url, peer, proxiedHeaders), `${url} ${name}: ${value} from ${peer}`).toBe("http");
          }
          // From a trusted proxy that did not name the client in its configured header: not known to be local either.
          if (name.toLowerCase() !== "x-forwarded-for" && name !== "x-forwarded-proto") expect(localProxy(url, "127.0.0.1", proxiedHeaders), `${name} trusted`).toBe("http");
        }
      }
      // No proxy's header: development on this machine.
      expect(direct(url, "127.0.0.1", h({ "x-forwarded-fort": "1", via: "1.1 cache" }))).toBe("loopback");
      expect(direct(url, undefined, none)).toBe("loopback");
      // A trusted proxy naming a loopback client in its header: a client on the proxy's machine.
      expect(localProxy(url, "127.0.0.1", h({ "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-forwarded-host": "localhost" }))).toBe("loopback");
    }
  });

  it("uses the client it is given, read only when the answer depends on it (a loopback host); remembers origins, not clients", () => {
    const resolve = createTransportResolver({ trustedProxies: ["10.0.0.0/8"] });
    let xffReads = 0;
    let ipReads = 0;
    const headers = (xff: string) => ({
      get: (name: string) => {
        if (name !== "x-forwarded-for") return null;
        xffReads++;
        return xff;
      },
    });
    const client = (ip: string) => ({
      get ip() {
        ipReads++;
        return ip;
      },
    });
    // Behind a trusted proxy that ends nothing (plain http), a thousand remote clients.
    const parsed = countUrlParses(() => {
      for (let i = 0; i < 1000; i++) {
        const ip = `203.0.${i >> 8}.${i & 255}`;
        expect(resolve(`http://api.example.com/v1/items/${i}`, "10.0.0.2", headers(ip), client(ip))).toBe("http");
      }
    });
    expect(parsed).toBe(1); // one origin, parsed once: not once per client
    expect([xffReads, ipReads]).toEqual([0, 0]); // not a loopback host: the client does not matter
    // Not read when the scheme decides.
    ipReads = 0;
    expect(resolve("https://api.example.com/x", "10.0.0.2", headers("203.0.113.9"), client("203.0.113.9"))).toBe("https");
    expect(ipReads).toBe(0);
    // The client given decides, as resolved (the header is the resolver's business).
    expect(resolve("http://localhost/x", "10.0.0.2", headers("127.0.0.1"), client("127.0.0.1"))).toBe("loopback");
    expect([xffReads, ipReads]).toEqual([1, 1]); // the header only looked at: did the trusted proxy name a client?
    expect(resolve("http://localhost/x", "10.0.0.2", headers("127.0.0.1"), client("203.0.113.9"))).toBe("http");
    expect(resolve("http://localhost/x", "10.0.0.2", headers("127.0.0.1"), { ip: null })).toBe("http");
    // Without one, resolved here as trustedProxies say.
    expect(resolve("http://localhost/x", "10.0.0.2", h({ "x-forwarded-for": "127.0.0.1" }))).toBe("loopback");
    expect(resolve("http://localhost/x", "10.0.0.2", h({ "x-forwarded-for": "203.0.113.9" }))).toBe("http");
  });

  it("believes a trusted proxy's X-Forwarded-Proto only when every value is https", () => {
    expect(proxied("http://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": "https" }))).toBe("https");
    expect(proxied("http://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": "HTTPS , https" }))).toBe("https");
    expect(proxied("https://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": "http" }))).toBe("http");
    expect(proxied("http://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": "https, http" }))).toBe("http");
    expect(proxied("http://api.example.com/x", "203.0.113.7", h({ "x-forwarded-proto": "https" }))).toBe("http");
    expect(proxied("http://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": `https,${" ".repeat(9000)}https` }))).toBe("http");
    // No header from the proxy: the URL decides.
    expect(proxied("https://api.example.com/x", "10.0.0.2", none)).toBe("https");
  });

  it("reads proto= of Forwarded (RFC 7239 §5.4)", () => {
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: 'for=1.2.3.4;proto=https, for=10.0.0.9;proto="https"' }))).toBe("https");
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "for=1.2.3.4;proto=https, for=10.0.0.9;PROTO=http" }))).toBe("http");
    expect(forwarded("https://a/x", "10.0.0.2", h({ forwarded: "for=1.2.3.4" }))).toBe("https");
    expect(forwarded("http://a/x", "10.0.0.2", h({ "x-forwarded-proto": "https" }))).toBe("http");
  });

  it("believes only the Forwarded elements trusted proxies appended: a client's own proto=https left of them is not read", () => {
    // The proxy (10.0.0.2) appends an element without proto= for its client 203.0.113.9: the URL received decides.
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "proto=https, for=203.0.113.9" }))).toBe("http");
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "for=10.0.0.7;proto=https, for=203.0.113.9" }))).toBe("http");
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "for=198.51.100.1;proto=https, for=203.0.113.9;host=a" }))).toBe("http");
    // Two lines, the client's first: one list (RFC 9110 §5.3).
    const lines = new Headers();
    lines.append("forwarded", "for=10.0.0.7;proto=https");
    lines.append("forwarded", "for=203.0.113.9");
    expect(forwarded("http://a/x", "10.0.0.2", lines)).toBe("http");
    // A client's element with proto=http left of the trusted chain denies nothing either.
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "proto=http, for=203.0.113.9;proto=https" }))).toBe("https");
    // Through two trusted proxies, each element believed: every proto must be https.
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "proto=http, for=203.0.113.9;proto=https, for=10.0.0.9;proto=https" }))).toBe("https");
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: "for=203.0.113.9;proto=https, for=10.0.0.9;proto=http" }))).toBe("http");
    // A value that does not parse is not believed.
    expect(forwarded("http://a/x", "10.0.0.2", h({ forwarded: 'proto=https, for="203.0.113.9' }))).toBe("http");
  });

  it("never throws, and what a client appends never turns http into https", () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: 40 }), fc.option(fc.string({ maxLength: 20 })), (url, proto, ip) => {
        const headers = { get: () => proto };
        for (const r of [direct, proxied, forwarded]) expect(["https", "http", "loopback"]).toContain(r(url, ip, headers));
        // The proxy appends "http" last: whatever the client wrote before, never https.
        expect(proxied("http://api.example.com/x", "10.0.0.2", h({ "x-forwarded-proto": `${proto.replace(/[\r\n\0]/g, "")}, http` }))).toBe("http");
        const throwing = { get: () => { throw new Error("x"); } };
        expect(proxied("https://api.example.com/x", "10.0.0.2", throwing)).toBe("http");
      }),
      { numRuns: 300 },
    );
  });

  it("remembers answers per origin and client, deciding exactly as a fresh parse (property)", () => {
    const scheme = fc.constantFrom("http://", "https://", "HTTP://", "http:", "ws://", "http:\\\\", " http://");
    const host = fc.constantFrom("127.0.0.1", "127.1", "0x7f.0.0.1", "localhost", "LOCALHOST", "[::1]", "[0:0::1]", "api.example.com", "10.0.0.2", "127.0.0.1\\@evil.test", "user@localhost", "xn--zz", "");
    const rest = fc.constantFrom("", ":8080", ":80/x?y", "/", "/a/b?c#d", "?q=http://x", "#f", "\\x");
    const peer = fc.constantFrom(undefined, null, "127.0.0.1", "::1", "::ffff:127.0.0.1", "203.0.113.9", "10.0.0.2", "garbage");
    const forwarded = fc.constantFrom(none, h({ "x-forwarded-for": "127.0.0.1" }), h({ "x-forwarded-for": "203.0.113.9" }), h({ "x-forwarded-for": "unknown" }), h({ "x-real-ip": "127.0.0.1" }));
    const options = [{}, { trustedProxies: ["10.0.0.0/8", "127.0.0.1"] }];
    const shared = options.map((o) => createTransportResolver(o));
    fc.assert(
      fc.property(fc.array(fc.tuple(scheme, host, rest, peer, forwarded), { minLength: 1, maxLength: 20 }), (calls) => {
        for (const [s1, h1, r1, ip, headers] of calls) {
          const url = s1 + h1 + r1;
          // A fresh resolver has remembered nothing: its answer is the parse itself.
          for (const [i, o] of options.entries()) expect(shared[i]!(url, ip, headers)).toBe(createTransportResolver(o)(url, ip, headers));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("a remembered origin that is a prefix of another's scheme answers only for itself", () => {
    const resolve = createTransportResolver();
    expect(resolve("http:", undefined, none)).toBe("http"); // does not parse
    expect(resolve("http://127.0.0.1", undefined, none)).toBe("loopback");
    expect(resolve("http://127.0.0.1", "203.0.113.9", none)).toBe("http");
    expect(resolve("http://127.0.0.1:8080/x", undefined, none)).toBe("loopback");
  });

  it("parses one origin once however many requests it serves; a client varying its Host is still answered right", () => {
    const resolve = createTransportResolver();
    const parsed = countUrlParses(() => {
      for (let i = 0; i < 1000; i++) expect(resolve(`http://localhost:3000/v1/items/${i}?page=${i}`, "127.0.0.1", none)).toBe("loopback");
    });
    expect(parsed).toBe(1);
    // What is remembered is bounded (cleared when full): new origins keep being answered right.
    for (let i = 0; i < 5000; i++) expect(resolve(`http://h${i}.example/`, "203.0.113.9", none)).toBe("http");
    expect(resolve("http://localhost/", "::1", none)).toBe("loopback");
  });

  it("an origin it remembers keeps nothing else of its URL alive (a 4 000-character path each)", async () => {
    const resolve = createTransportResolver();
    const tag = `transport-${Math.random().toString(36).slice(2)}`;
    // Each URL built here and dropped at once: only the resolver's memory could keep one alive.
    for (let i = 0; i < 20; i++) expect(resolve(`http://h${i}.example/${tag}-${"x".repeat(4000)}`, "203.0.113.9", none)).toBe("http");
    // The last URL is compared in place with the next request's (one, whatever came before).
    expect(await liveStrings(`${tag}-`, 2_000)).toBeLessThanOrEqual(1);
  }, SNAPSHOT_TEST_TIMEOUT_MS);

  it("answers a sequence of URLs as a resolver that remembers nothing does, each in turn (http:///localhost/ after http:///x/ was 'http')", () => {
    const url = fc
      .tuple(
        fc.constantFrom("http:", "https:", "HTTP:", "x:", "http:/", ""),
        fc.constantFrom("//", "/", "", "///"),
        fc.constantFrom("localhost", "127.0.0.1", "[::1]", "api.example.com", "localhost.example", "", "127.0.0.1:8080", "localhost:3000", "\t", " ", "\\", "local\thost", "localhost ", "u@localhost"),
        fc.constantFrom("/", "?q", "#f", "//evil.example/", "/localhost/", "\\x", "/a//b", "", ":80/x", " /x"),
      )
      .map((parts) => parts.join(""));
    const call = fc.tuple(url, fc.constantFrom("127.0.0.1", "203.0.113.9", undefined));
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 12 }), (calls) => {
        const remembering = createTransportResolver();
        for (const [u, socket] of calls) expect(remembering(u, socket, none)).toBe(createTransportResolver()(u, socket, none));
      }),
      { numRuns: 2000 },
    );
  });
});

/** How many URLs `fn` parses (URL constructor calls). */
function countUrlParses(fn: () => void): number {
  const Original = globalThis.URL;
  let n = 0;
  globalThis.URL = class extends Original {
    constructor(...args: ConstructorParameters<typeof URL>) {
      super(...args);
      n++;
    }
  } as typeof URL;
  try {
    fn();
  } finally {
    globalThis.URL = Original;
  }
  return n;
}
