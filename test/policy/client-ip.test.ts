import fc from "fast-check";
import { Keyward, MemoryStore } from "keyward";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, isKeywardError } from "../../src/errors.js";
import { type ConfigWarning, createClientIpResolver } from "../../src/policy/client-ip.js";

const h = (init: Record<string, string> = {}) => new Headers(init);

/** A headers object that records every name read. */
function spyHeaders(init: Record<string, string>) {
  const read: string[] = [];
  const inner = new Headers(init);
  return {
    read,
    get(name: string) {
      read.push(name);
      return inner.get(name);
    },
  };
}

describe("createClientIpResolver: options", () => {
  it.each([
    [{ trustedProxies: ["10.0.0.0/8", "nope"] }, "trustedProxies[1]"],
    [{ trustedProxies: ["10.0.0.1/8"] }, "trustedProxies[0]"],
    [{ trustedProxies: ["[::1]"] }, "trustedProxies[0]"],
    [{ trustedProxies: [42 as unknown as string] }, "trustedProxies[0]"],
    [{ trustedProxies: "10.0.0.0/8" as unknown as string[] }, "trustedProxies"],
    [{ header: "x-real-ip" as "forwarded" }, "header"],
  ])("throws ConfigError for %j", (options, field) => {
    let error: unknown;
    try {
      createClientIpResolver(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(isKeywardError(error, "INVALID_CONFIG")).toBe(true);
    expect((error as ConfigError).field).toBe(field);
  });

  it("throws ConfigError for non-object options", () => {
    expect(() => createClientIpResolver(null as unknown as {})).toThrow(ConfigError);
  });

  it("accepts valid options", () => {
    expect(() => createClientIpResolver()).not.toThrow();
    expect(() => createClientIpResolver({ trustedProxies: [], header: "forwarded" })).not.toThrow();
    expect(() => createClientIpResolver({ trustedProxies: ["10.0.0.0/8", "::1", "fd00::/8"] })).not.toThrow();
  });

  it("copies the proxy list (later mutation has no effect)", () => {
    const proxies = ["10.0.0.0/8"];
    const resolve = createClientIpResolver({ trustedProxies: proxies });
    proxies.push("0.0.0.0/0");
    expect(resolve("192.0.2.1", h({ "x-forwarded-for": "203.0.113.7" }))).toBe("192.0.2.1");
  });
});

describe("default: the socket address, headers never read", () => {
  const resolve = createClientIpResolver();

  it("ignores forwarding headers", () => {
    const headers = spyHeaders({ "x-forwarded-for": "1.1.1.1", forwarded: "for=1.1.1.1" });
    expect(resolve("203.0.113.7", headers)).toBe("203.0.113.7");
    expect(headers.read).toEqual([]);
    expect(createClientIpResolver({ trustedProxies: [] })("203.0.113.7", headers)).toBe("203.0.113.7");
    expect(headers.read).toEqual([]);
  });

  it.each([
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["2001:DB8:0:0::1", "2001:db8::1"],
    ["::1", "::1"],
    ["garbage", null],
    ["127.1", null],
    ["", null],
    [null, null],
    [undefined, null],
  ])("normalises socket %j to %j", (socket, expected) => {
    expect(resolve(socket, h())).toBe(expected);
  });

  it("remembers the addresses it normalised without changing an answer (property)", () => {
    const address = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4().map((ip) => `::ffff:${ip}`),
      fc.ipV6().map((ip) => ip.toUpperCase()),
      fc.string({ maxLength: 70 }),
      fc.constantFrom("127.1", "", "1.2.3.4 ", `${"1".repeat(80)}`),
    );
    const trusted = { trustedProxies: ["10.0.0.0/8"] };
    fc.assert(
      fc.property(fc.array(address, { minLength: 1, maxLength: 40 }), fc.boolean(), (list, behindProxy) => {
        // One resolver over a sequence that repeats addresses, and runs past its memory's bound...
        const remembering = createClientIpResolver(behindProxy ? trusted : {});
        const sequence = [...list, ...list, ...Array.from({ length: 1100 }, (_, i) => `10.${i >> 8}.${i & 255}.1`), ...list];
        for (const socket of sequence) {
          // ...answers as a fresh one does for each address alone.
          const fresh = createClientIpResolver(behindProxy ? trusted : {});
          expect(remembering(socket, h())).toBe(fresh(socket, h()));
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe("x-forwarded-for behind trusted proxies", () => {
  const resolve = createClientIpResolver({ trustedProxies: ["10.0.0.0/8", "2001:db8:ffff::/48"] });
  const xff = (v: string) => h({ "x-forwarded-for": v });

  it("an untrusted socket is the client, whatever the header says", () => {
    const headers = spyHeaders({ "x-forwarded-for": "1.1.1.1" });
    expect(resolve("198.51.100.9", headers)).toBe("198.51.100.9");
    expect(headers.read).toEqual([]);
  });

  it.each([
    // header, expected
    ["203.0.113.7", "203.0.113.7"],
    ["203.0.113.7, 10.0.0.2", "203.0.113.7"],
    ["203.0.113.7,10.0.0.2,10.0.0.3", "203.0.113.7"],
    // Spoofing: the client prepends entries; only the rightmost untrusted one counts.
    ["127.0.0.1, 203.0.113.7", "203.0.113.7"],
    ["10.0.0.5, 203.0.113.7, 10.0.0.2", "203.0.113.7"],
    ["1.1.1.1, 2.2.2.2, 203.0.113.7", "203.0.113.7"],
    ["garbage, 203.0.113.7", "203.0.113.7"], // junk left of the answer is never read
    // Every entry trusted: the leftmost.
    ["10.0.0.9, 10.0.0.8", "10.0.0.9"],
    // Ports, brackets, mapped addresses, case.
    ["203.0.113.7:51234", "203.0.113.7"],
    ["[2001:DB8::7]:443", "2001:db8::7"],
    ["[2001:db8::7]", "2001:db8::7"],
    ["2001:db8::7", "2001:db8::7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["[::ffff:203.0.113.7]:80", "203.0.113.7"],
    ["203.0.113.7, 2001:db8:ffff::1", "203.0.113.7"],
    // Malformed entries met on the walk: null.
    ["unknown", null],
    ["203.0.113.7, unknown", null],
    ["203.0.113.7, , 10.0.0.2", null],
    ["203.0.113.7,", null],
    ["203.0.113.7:", null],
    ["203.0.113.7:99999999", null],
    ["[203.0.113.7]", null],
    ["[2001:db8::7", null],
    ["[2001:db8::7]x", null],
    ["fe80::1%eth0", null],
    ["127.1", null],
    ["_hidden", null],
  ])("%j → %j", (header, expected) => {
    expect(resolve("10.0.0.1", xff(header))).toBe(expected);
  });

  it("no header: the socket address (a request from the proxy itself)", () => {
    expect(resolve("10.0.0.1", h())).toBe("10.0.0.1");
    expect(resolve("10.0.0.1", xff(""))).toBe("10.0.0.1");
  });

  it("reads the header once, combined by Headers with ', '", () => {
    const headers = new Headers();
    headers.append("x-forwarded-for", "6.6.6.6");
    headers.append("x-forwarded-for", "203.0.113.7");
    expect(resolve("10.0.0.1", headers)).toBe("203.0.113.7");
  });

  it("IPv6 and mapped socket addresses of proxies are recognised", () => {
    expect(resolve("2001:db8:ffff::2", xff("203.0.113.7"))).toBe("203.0.113.7");
    expect(resolve("::ffff:10.0.0.1", xff("203.0.113.7"))).toBe("203.0.113.7");
  });

  it("caps header length and entry count", () => {
    expect(resolve("10.0.0.1", xff(`${"1.1.1.1, ".repeat(1000)}203.0.113.7`))).toBeNull();
    expect(resolve("10.0.0.1", xff(`${"10.0.0.3,".repeat(64)}203.0.113.7`))).toBeNull();
    expect(resolve("10.0.0.1", xff(`${"10.0.0.3,".repeat(62)}203.0.113.7`))).toBe("203.0.113.7");
  });

  it("a throwing or odd headers object never throws out", () => {
    const bad = {
      get(): string | null {
        throw new Error("boom");
      },
    };
    expect(resolve("10.0.0.1", bad)).toBe("10.0.0.1");
    expect(resolve("10.0.0.1", { get: () => 42 as unknown as string })).toBe("10.0.0.1");
  });
});

describe("Forwarded (RFC 7239) behind trusted proxies", () => {
  const resolve = createClientIpResolver({ trustedProxies: ["10.0.0.0/8"], header: "forwarded" });
  const fwd = (v: string) => h({ forwarded: v });

  it("reads Forwarded, not X-Forwarded-For", () => {
    const headers = spyHeaders({ forwarded: "for=203.0.113.7", "x-forwarded-for": "1.1.1.1" });
    expect(resolve("10.0.0.1", headers)).toBe("203.0.113.7");
    expect(headers.read).toEqual(["forwarded"]);
  });

  it.each([
    // RFC 7239 §4 and §7.4 examples
    ['for="_gazonk"', null],
    ['For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"],
    ["for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"],
    ["for=192.0.2.43, for=198.51.100.17", "198.51.100.17"],
    ['for=192.0.2.43, for="[2001:db8:cafe::17]"', "2001:db8:cafe::17"],
    ["for=unknown", null],
    // Spoofing: only the rightmost untrusted element counts.
    ["for=127.0.0.1, for=203.0.113.7", "203.0.113.7"],
    ["for=127.0.0.1, for=203.0.113.7, for=10.0.0.2", "203.0.113.7"],
    ['for=junk"x, for=203.0.113.7', null], // unbalanced quoting fails the whole value
    // Quoting, ports, parameters in any order, whitespace.
    ['for="203.0.113.7:8080"', "203.0.113.7"],
    ['for="203.0.113.7"', "203.0.113.7"],
    ['for="[::ffff:203.0.113.7]:1"', "203.0.113.7"],
    ['for="203.0.113.7:_port"', "203.0.113.7"],
    ['for="\\2\\03.0.113.7"', "203.0.113.7"],
    ['proto=https;for="203.0.113.7";host=example.com', "203.0.113.7"],
    ['by=10.0.0.1 ; for="203.0.113.7"', "203.0.113.7"],
    ["for=203.0.113.7 , for=10.0.0.2", "203.0.113.7"],
    ['for=203.0.113.7;host="a,b;c"', "203.0.113.7"],
    // Every element trusted: the leftmost.
    ["for=10.0.0.9, for=10.0.0.8", "10.0.0.9"],
    // Malformed
    ["for=203.0.113.7, proto=https", null], // element without for=
    ["for=203.0.113.7;for=203.0.113.8", null], // duplicate parameter
    ["for=203.0.113.7,", null],
    ["for=", null],
    ["for", null],
    ['for="203.0.113.7', null],
    ['for="203.0.113.7"x', null],
    ["for=2001:db8::1:80", null],
    ["for=[2001:db8::1]:80", "2001:db8::1"], // unquoted, but unambiguous
    ['for="[2001:db8::1', null],
    ["for=_hidden", null],
    ["fo r=203.0.113.7", null],
    ["for =203.0.113.7", null], // RFC 7239 §4: no whitespace around "="
    ["for= 203.0.113.7", null],
  ])("%s → %j", (header, expected) => {
    expect(resolve("10.0.0.1", fwd(header))).toBe(expected);
  });

  it("combines several header lines", () => {
    const headers = new Headers();
    headers.append("forwarded", "for=6.6.6.6");
    headers.append("forwarded", 'for="203.0.113.7";proto=https');
    expect(resolve("10.0.0.1", headers)).toBe("203.0.113.7");
  });

  it("caps the number of elements", () => {
    expect(resolve("10.0.0.1", fwd(`${"for=10.0.0.3, ".repeat(70)}for=203.0.113.7`))).toBeNull();
  });
});

describe("client-ip properties", () => {
  const NUM_RUNS = 3_000;
  const entry = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.ipV6().map((ip) => `[${ip}]:${ip.length}`),
    fc.ipV4().map((ip) => `${ip}:8080`),
    fc.constantFrom("10.0.0.2", "unknown", "_x", "", "[", '"'),
    fc.string({ maxLength: 12 }),
  );
  const headerValue = fc.oneof(
    fc.array(entry, { maxLength: 6 }).map((l) => l.join(", ")),
    fc.array(entry, { maxLength: 6 }).map((l) => l.map((e) => `for="${e}"`).join(", ")),
    fc.array(fc.tuple(entry, fc.string({ maxLength: 5 })), { maxLength: 4 }).map((l) =>
      l.map(([e, x]) => `for=${e};${x}`).join(","),
    ),
    fc.string(),
  );

  it("never throws, and returns null or a canonical address", () => {
    const resolvers = [
      createClientIpResolver(),
      createClientIpResolver({ trustedProxies: ["10.0.0.0/8", "::1"] }),
      createClientIpResolver({ trustedProxies: ["10.0.0.0/8", "::1"], header: "forwarded" }),
    ];
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom("10.0.0.1", "::1", "::ffff:10.0.0.1"), fc.ipV4(), fc.anything()),
        headerValue,
        (socket, value) => {
          const headers = h({ "x-forwarded-for": value, forwarded: value });
          for (const resolve of resolvers) {
            let out: string | null = null;
            expect(() => {
              out = resolve(socket as string, headers);
            }).not.toThrow();
            if (out !== null) expect(resolvers[0]!(out, h())).toBe(out);
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("prepended entries never change the answer", () => {
    const resolve = createClientIpResolver({ trustedProxies: ["10.0.0.0/8"] });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), fc.ipV4(), (prefix, client) => {
        fc.pre(!client.startsWith("10."));
        const honest = `${client}, 10.0.0.2`;
        const spoofed = [...prefix, honest].join(", ");
        expect(resolve("10.0.0.1", h({ "x-forwarded-for": spoofed }))).toBe(client);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("catch-all and very wide trusted blocks", () => {
  const headers = new Headers({ "x-forwarded-for": "10.0.0.5" });

  it.each(["0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "::ffff:0:0/96"])("refuses %s unless allowCatchAllRanges", (block) => {
    const silent = () => {};
    expect(() => createClientIpResolver({ trustedProxies: ["10.0.0.0/8", block], onWarning: silent })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "trustedProxies[1]" }),
    );
    const resolve = createClientIpResolver({ trustedProxies: [block], allowCatchAllRanges: true, onWarning: silent });
    // What the option means: any peer of that family vouches for any address.
    if (block !== "::/0") expect(resolve("198.51.100.9", headers)).toBe("10.0.0.5");
  });

  it("the issue's reproduction: a /0 in Keyward's trustedProxies is a config error", async () => {
    const store = new MemoryStore();
    expect(() => new Keyward({ store, prefix: "acme", trustedProxies: ["0.0.0.0/0"] })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "trustedProxies[0]" }),
    );
    const kw = new Keyward({ store, prefix: "acme", trustedProxies: ["0.0.0.0/0"], allowCatchAllRanges: true });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", ips: ["10.0.0.0/8"] });
    const request = new Request("https://api.example.com/", { headers: { authorization: `Bearer ${token}`, "x-forwarded-for": "10.0.0.5" } });
    expect((await kw.verify(request, { ip: "198.51.100.9" })).ok).toBe(true);
    expect(() => new Keyward({ store, prefix: "acme", allowCatchAllRanges: "yes" as unknown as boolean })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "allowCatchAllRanges" }),
    );
  });

  it("reports each block wider than a /8 or a /32 once, through onWarning", () => {
    const warnings: ConfigWarning[] = [];
    createClientIpResolver({
      trustedProxies: ["10.0.0.0/8", "8.0.0.0/7", "2000::/3", "2001:db8::/32", "fc00::/7", "fe80::/10", "fd00::/8", "127.0.0.1", "2600::/16"],
      header: "forwarded",
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings.map((w) => [w.code, w.field])).toEqual([
      ["WIDE_TRUSTED_RANGE", "trustedProxies[1]"],
      ["WIDE_TRUSTED_RANGE", "trustedProxies[2]"],
      ["WIDE_TRUSTED_RANGE", "trustedProxies[8]"],
    ]);
    expect(warnings[0]!.message).toBe("trustedProxies[1] (8.0.0.0/7) is very wide: any client in it can set its own address with the forwarded header");
  });

  it("warns on the console by default, and through Keyward's onWarning when given", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      createClientIpResolver({ trustedProxies: ["64.0.0.0/2"] });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toBe("keyward: trustedProxies[0] (64.0.0.0/2) is very wide: any client in it can set its own address with the x-forwarded-for header");
      const seen: ConfigWarning[] = [];
      new Keyward({ store: new MemoryStore(), prefix: "acme", trustedProxies: ["64.0.0.0/2"], onWarning: (w) => seen.push(w) });
      expect(seen).toHaveLength(1);
      expect(warn).toHaveBeenCalledTimes(1);
      // A list that throws reports nothing.
      expect(() => createClientIpResolver({ trustedProxies: ["64.0.0.0/2", "0.0.0.0/0"] })).toThrow();
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });
});
