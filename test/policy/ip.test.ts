import { BlockList, isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildRanges, type Cidr, compileIpAllowlist, formatIp, inRanges, isValidCidr, parseCidr, parseIp } from "../../src/policy/ip.js";
import { cpuClock } from "../support/cpu.js";
import * as reference from "./reference/ip.js";

const bytes = (...b: number[]) => Uint8Array.from(b);

describe("parseIp: IPv4", () => {
  it.each([
    ["0.0.0.0", [0, 0, 0, 0]],
    ["1.2.3.4", [1, 2, 3, 4]],
    ["255.255.255.255", [255, 255, 255, 255]],
    ["10.0.100.9", [10, 0, 100, 9]],
  ])("accepts %s", (s, b) => {
    expect(parseIp(s)).toEqual({ version: 4, bytes: bytes(...b) });
  });

  it.each([
    "01.2.3.4",
    "1.2.3.04",
    "00.0.0.0",
    "0x7f.0.0.1",
    "0x7f.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "017700000001",
    "256.0.0.0",
    "1.2.3.4.5",
    "1.2.3.",
    ".1.2.3",
    "1..2.3",
    "1.2.3.4 ",
    " 1.2.3.4",
    "+1.2.3.4",
    "1.2.3.-4",
    "1.2.3.4/32",
    "1.2.3.4:80",
    "１.2.3.4",
    "",
  ])("refuses %j", (s) => {
    expect(parseIp(s)).toBeNull();
  });
});

describe("parseIp: IPv6 (RFC 4291 §2.2)", () => {
  it.each([
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    ["fe80::1", "fe80::1"],
    ["::1.2.3.4", "::102:304"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ])("accepts %s (canonical %s)", (s, canonical) => {
    const ip = parseIp(s);
    expect(ip?.version).toBe(6);
    expect(ip?.bytes.length).toBe(16);
    expect(formatIp(ip!)).toBe(canonical);
  });

  it.each([
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::ffff:0102:0304", "1.2.3.4"],
    ["::FFFF:1.2.3.4", "1.2.3.4"],
    ["0:0:0:0:0:ffff:c000:0221", "192.0.2.33"],
  ])("normalises IPv4-mapped %s to %s", (s, v4) => {
    expect(parseIp(s)).toEqual(parseIp(v4));
    expect(parseIp(s)?.version).toBe(4);
  });

  it.each([
    ":",
    ":::",
    "1:::2",
    "1::2::3",
    ":1::2",
    "1::2:",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "12345::",
    "g::1",
    "fe80::1%eth0",
    "fe80::1%25eth0",
    "[::1]",
    "::1.2.3",
    "::01.2.3.4",
    "1.2.3.4::",
    "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::ffff:1.2.3.4/128",
    " ::1",
    "::1 ",
    "::1:",
  ])("refuses %j", (s) => {
    expect(parseIp(s)).toBeNull();
  });

  it.each([null, undefined, 0x7f000001, {}, ["1.2.3.4"], new String("1.2.3.4")])("refuses non-string %s", (s) => {
    expect(parseIp(s)).toBeNull();
  });
});

describe("parseCidr", () => {
  it.each([
    ["10.0.0.0/8", 4, [10, 0, 0, 0], 8],
    ["0.0.0.0/0", 4, [0, 0, 0, 0], 0],
    ["203.0.113.7", 4, [203, 0, 113, 7], 32],
    ["203.0.113.7/32", 4, [203, 0, 113, 7], 32],
    ["::ffff:203.0.113.0/120", 4, [203, 0, 113, 0], 24],
    ["::ffff:0:0/96", 4, [0, 0, 0, 0], 0],
    ["::ffff:1.2.3.4", 4, [1, 2, 3, 4], 32],
  ])("accepts %s", (s, version, b, prefix) => {
    expect(parseCidr(s)).toEqual({ version, bytes: bytes(...b), prefix });
    expect(isValidCidr(s)).toBe(true);
  });

  it.each([
    ["2001:db8::/32", 32],
    ["::/0", 0],
    ["2001:db8::1", 128],
    ["2001:db8::1/128", 128],
    ["fe80::/10", 10],
  ])("accepts %s", (s, prefix) => {
    expect(parseCidr(s)?.version).toBe(6);
    expect(parseCidr(s)?.prefix).toBe(prefix);
  });

  it.each([
    "10.0.0.1/8", // host bits set
    "2001:db8::1/32",
    "::ffff:0:0/95",
    "10.0.0.0/33",
    "::/129",
    "10.0.0.0/08",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "10.0.0.0/-1",
    "10.0.0.0/+8",
    "10.0.0.0/ 8",
    "10.0.0.0/0x8",
    "010.0.0.0/8",
    "10.0/8",
    "[::1]",
    "[::1]/128",
    "fe80::%eth0/64",
    "/8",
    "",
  ])("refuses %j", (s) => {
    expect(parseCidr(s)).toBeNull();
    expect(isValidCidr(s)).toBe(false);
  });
});

describe("compileIpAllowlist", () => {
  it("an empty list allows everything, even a missing address", () => {
    const m = compileIpAllowlist([]);
    expect(m("1.2.3.4")).toBe(true);
    expect(m(null)).toBe(true);
    expect(m(undefined)).toBe(true);
    expect(m("garbage")).toBe(true);
  });

  it("a non-empty list denies missing or malformed addresses", () => {
    const m = compileIpAllowlist(["0.0.0.0/0", "::/0"]);
    for (const ip of [null, undefined, "", "garbage", "127.1", "[::1]", "fe80::1%eth0", "1.2.3.4:80"]) {
      expect(m(ip)).toBe(false);
    }
    expect(m(1 as unknown as string)).toBe(false);
  });

  it("a list of only invalid entries denies everything", () => {
    const m = compileIpAllowlist(["10.0.0.1/8", "nope"]);
    expect(m("10.0.0.1")).toBe(false);
    expect(compileIpAllowlist(null as unknown as string[])("10.0.0.1")).toBe(false);
  });

  it.each([
    ["203.0.113.0/24", "203.0.113.0", true],
    ["203.0.113.0/24", "203.0.113.255", true],
    ["203.0.113.0/24", "203.0.114.0", false],
    ["203.0.113.0/24", "203.0.112.255", false],
    ["203.0.113.0/24", "::ffff:203.0.113.9", true],
    ["203.0.113.0/24", "::ffff:cb00:7109", true],
    ["128.0.0.0/1", "200.1.1.1", true],
    ["128.0.0.0/1", "127.255.255.255", false],
    ["255.255.255.255", "255.255.255.255", true],
    ["0.0.0.0/0", "255.255.255.255", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["::/0", "1.2.3.4", false],
    ["::/0", "::ffff:1.2.3.4", false], // mapped addresses are IPv4
    ["::/0", "::1.2.3.4", true], // IPv4-compatible is plain IPv6
    ["::ffff:10.0.0.0/104", "10.9.9.9", true],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["2001:db8::/33", "2001:db8:7fff::", true],
    ["2001:db8::/33", "2001:db8:8000::", false],
    ["2001:db8::1", "2001:DB8:0::1", true],
    ["2001:db8::1", "2001:db8::2", false],
    ["fe80::/10", "febf::1", true],
    ["fe80::/10", "fec0::1", false],
  ])("%s contains %s: %s", (cidr, ip, expected) => {
    expect(compileIpAllowlist([cidr])(ip)).toBe(expected);
  });

  it("any-of over mixed lists", () => {
    const m = compileIpAllowlist(["10.0.0.0/8", "192.168.1.1", "2001:db8::/32", "bad"]);
    expect(m("10.1.2.3")).toBe(true);
    expect(m("192.168.1.1")).toBe(true);
    expect(m("192.168.1.2")).toBe(false);
    expect(m("2001:db8::9")).toBe(true);
    expect(m("2001:db9::9")).toBe(false);
  });
});

// --- properties against a BigInt reference -------------------------------------

const NUM_RUNS = 5_000;

function toBigInt(b: Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

function fromBigInt(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** Reference: the first `prefix` bits of both agree. */
function refContains(net: Uint8Array, prefix: number, ip: Uint8Array): boolean {
  if (net.length !== ip.length) return false;
  const bits = BigInt(net.length * 8);
  const shift = bits - BigInt(prefix);
  return toBigInt(net) >> shift === toBigInt(ip) >> shift;
}

const v4Bytes = fc.uint8Array({ minLength: 4, maxLength: 4 });
/** IPv6 bytes, avoiding the mapped range half the time only by chance; mapped is handled below. */
const v6Bytes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // Many zero groups, to exercise "::" compression.
  fc
    .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
    .map((g) => Uint8Array.from(g.flatMap((x) => [x >> 8, x & 255]))),
);
const isMappedBytes = (b: Uint8Array) => b.slice(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255;
const anyIp = fc.oneof(
  v4Bytes.map((bytes) => ({ version: 4 as const, bytes })),
  v6Bytes.filter((b) => !isMappedBytes(b)).map((bytes) => ({ version: 6 as const, bytes })),
);

describe("ip properties", () => {
  it("formatIp and parseIp round-trip", () => {
    fc.assert(
      fc.property(anyIp, (ip) => {
        const text = formatIp(ip);
        expect(parseIp(text)).toEqual(ip);
        expect(formatIp(parseIp(text)!)).toBe(text);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("fast-check's own address generators parse, and agree with the URL parser", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (s) => {
        const ip = parseIp(s);
        expect(ip).not.toBeNull();
        if (ip!.version === 6) expect(`[${formatIp(ip!)}]`).toBe(new URL(`http://[${s}]/`).hostname);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("every address is in its own /32 or /128 and in 0.0.0.0/0 or ::/0", () => {
    const all = compileIpAllowlist(["0.0.0.0/0", "::/0"]);
    fc.assert(
      fc.property(anyIp, (ip) => {
        const text = formatIp(ip);
        expect(compileIpAllowlist([text])(text)).toBe(true);
        expect(compileIpAllowlist([`${text}/${ip.version === 4 ? 32 : 128}`])(text)).toBe(true);
        expect(all(text)).toBe(true);
        expect(compileIpAllowlist([ip.version === 4 ? "0.0.0.0/0" : "::/0"])(text)).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a /n contains an address iff their first n bits agree (BigInt reference)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(v4Bytes, v4Bytes, fc.integer({ min: 0, max: 32 })),
          fc.tuple(v6Bytes, v6Bytes, fc.integer({ min: 0, max: 128 })),
        ),
        fc.boolean(),
        ([netRaw, ipRaw, prefix], share) => {
          const bits = BigInt(netRaw.length * 8);
          const shift = bits - BigInt(prefix);
          // The network: host bits cleared.
          const net = fromBigInt((toBigInt(netRaw) >> shift) << shift, netRaw.length);
          // Half the time, make the address share the network's prefix.
          const mask = ((1n << bits) - 1n) >> BigInt(prefix);
          const ip = share ? fromBigInt((toBigInt(net) & ~mask) | (toBigInt(ipRaw) & mask), ipRaw.length) : ipRaw;
          const version = net.length === 4 ? 4 : 6;
          if (version === 6 && (isMappedBytes(ip) || (prefix >= 96 && isMappedBytes(net)))) return;
          const cidrText = `${formatIp({ version, bytes: net })}/${prefix}`;
          const cidr = parseCidr(cidrText);
          expect(cidr).toEqual({ version, bytes: net, prefix });
          expect(compileIpAllowlist([cidrText])(formatIp({ version, bytes: ip }))).toBe(
            refContains(net, prefix, ip),
          );
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("host bits beyond the prefix are refused", () => {
    fc.assert(
      fc.property(v4Bytes, fc.integer({ min: 0, max: 31 }), (b, prefix) => {
        const hostBits = toBigInt(b) & ((1n << BigInt(32 - prefix)) - 1n);
        expect(parseCidr(`${formatIp({ version: 4, bytes: b })}/${prefix}`) === null).toBe(hostBits !== 0n);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("random input never throws", () => {
    const near = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:./%[]x "), maxLength: 50 });
    const m = compileIpAllowlist(["10.0.0.0/8", "2001:db8::/32"]);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.string(), near), (x) => {
        expect(() => parseIp(x)).not.toThrow();
        expect(() => parseCidr(x)).not.toThrow();
        expect(() => isValidCidr(x)).not.toThrow();
        expect(() => m(x as string)).not.toThrow();
        // The matcher parses exactly what parseIp parses.
        if (parseIp(x) === null) expect(m(x as string)).toBe(false);
        expect(() => compileIpAllowlist([x as string])).not.toThrow();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("long input is refused quickly", () => {
    const long = "1:".repeat(1_000_000);
    const cpu = cpuClock();
    expect(parseIp(long)).toBeNull();
    expect(parseCidr(long)).toBeNull();
    expect(compileIpAllowlist(["::/0"])(long)).toBe(false);
    expect(cpu()).toBeLessThan(50);
  });
});

/** A CIDR text of `bytes` cut to `prefix` bits (host bits cleared), maybe written as IPv4-mapped IPv6. */
function cidrText(raw: Uint8Array, prefix: number, mapped: boolean): string {
  const bits = BigInt(raw.length * 8);
  const shift = bits - BigInt(prefix);
  const net = fromBigInt((toBigInt(raw) >> shift) << shift, raw.length);
  if (raw.length === 4 && mapped) return `::ffff:${formatIp({ version: 4, bytes: net })}/${prefix + 96}`;
  return `${formatIp({ version: raw.length === 4 ? 4 : 6, bytes: net })}/${prefix}`;
}

/** Blocks clustered around a few bases, so they nest, touch and overlap; plus junk entries. */
const allowlist = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(10, 203, 0, 255), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 32 }), fc.boolean()).map(([a, b, p, m]) => cidrText(Uint8Array.of(a, b, b * 64, 7), p, m)) },
    { weight: 2, arbitrary: fc.tuple(v4Bytes, fc.integer({ min: 0, max: 32 }), fc.boolean()).map(([b, p, m]) => cidrText(b, p, m)) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(0x20, 0xfe, 0), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 128 })).map(([a, b, p]) => cidrText(Uint8Array.of(a, 1, 0x0d, b * 64, ...new Array(11).fill(b), 1), p, false)) },
    { weight: 2, arbitrary: fc.tuple(v6Bytes, fc.integer({ min: 0, max: 128 })).map(([b, p]) => cidrText(b, p, false)) },
    { weight: 1, arbitrary: fc.oneof(fc.string(), fc.constantFrom("10.0.0.1/8", "::ffff:0:0/95", "1.2.3.4/33", "")) },
  ),
  { maxLength: 12 },
);

/** Addresses near the blocks' edges: the same bases, all-zero and all-one host parts, and random ones. */
const probe = fc.oneof(
  fc.tuple(fc.constantFrom(10, 203, 0, 255), fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 6, 7, 8, 255), fc.constantFrom(0, 63, 64, 127, 128, 255)).map(([a, b, c, d]) => `${a}.${b}.${c}.${d}`),
  fc.tuple(fc.constantFrom(0x20, 0xfe, 0), fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 1, 0xffff)).map(([a, b, z]) => formatIp({ version: 6, bytes: Uint8Array.of(a, 1, 0x0d, b * 64, ...new Array(10).fill(b), z >> 8, z & 255) })),
  anyIp.map(formatIp),
  anyIp.filter((ip) => ip.version === 4).map((ip) => `::ffff:${formatIp(ip)}`),
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef:.%"), maxLength: 20 }),
);

describe("compileIpAllowlist decides exactly as the scanning reference", () => {
  it("on random lists of nested, overlapping and invalid blocks", () => {
    fc.assert(
      fc.property(allowlist, fc.array(probe, { minLength: 1, maxLength: 8 }), (list, ips) => {
        const now = compileIpAllowlist(list);
        const ref = reference.compileIpAllowlist(list);
        for (const ip of ips) expect(now(ip)).toBe(ref(ip));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// --- against node:net, an implementation of its own --------------------------

/** Text forms around the strict ones: octets and groups too long or too large, leading zeros, 5 to 9 groups, `::` anywhere. */
const group = fc.stringMatching(/^[0-9a-fA-F]{1,5}$/);
const octet = fc.oneof(fc.nat(300).map(String), fc.stringMatching(/^[0-9]{1,4}$/));
const v4Text = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
const v6Text = fc.oneof(
  fc.array(group, { minLength: 6, maxLength: 9 }).map((g) => g.join(":")),
  fc.tuple(fc.array(group, { maxLength: 8 }), fc.array(group, { maxLength: 8 })).map(([a, b]) => `${a.join(":")}::${b.join(":")}`),
  fc.tuple(fc.array(group, { maxLength: 7 }), v4Text).map(([a, b]) => `${a.join(":")}::${b}`),
  fc.tuple(fc.array(group, { minLength: 5, maxLength: 7 }), v4Text).map(([a, b]) => `${a.join(":")}:${b}`),
  fc.ipV6(),
);
const addressText = fc.oneof(v4Text, v6Text, fc.ipV4(), fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:."), maxLength: 20 }));

describe("parsing and matching agree with node:net", () => {
  it("parseIp accepts exactly what net.isIP accepts, zone ids aside (refused here)", () => {
    fc.assert(
      fc.property(addressText, (s) => {
        expect(parseIp(s) !== null, s).toBe(isIP(s) !== 0);
      }),
      { numRuns: 2 * NUM_RUNS },
    );
    expect(isIP("fe80::1%eth0")).toBe(6);
    expect(parseIp("fe80::1%eth0")).toBeNull();
  });

  it("compileIpAllowlist allows exactly what a net.BlockList of each family's blocks does (IPv4-mapped addresses as IPv4)", () => {
    // A block over an address of its own family, its host bits cleared; some entries invalid.
    const block = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(anyIp, fc.nat(128)).map(([ip, n]) => blockText(ip.version, ip.bytes, n % (ip.version === 4 ? 33 : 129))) },
      { weight: 1, arbitrary: fc.tuple(fc.oneof(v4Text, v6Text), fc.nat(128)).map(([a, p]) => `${a}/${p}`) },
    );
    // Addresses of any form, and addresses inside or just outside a block of the list.
    const near = (entries: string[]) =>
      fc.tuple(fc.constantFrom(...entries), fc.integer({ min: -1, max: 1 })).map(([entry, step]) => {
        const c = parseCidr(entry);
        if (c === null) return entry.replace(/\/.*$/, "");
        const width = c.bytes.length * 8;
        const n = toBigInt(c.bytes) + BigInt(step) + (step > 0 ? (1n << BigInt(width - c.prefix)) - 1n : 0n);
        return formatIp({ version: c.version, bytes: fromBigInt(BigInt.asUintN(width, n), c.bytes.length) });
      });
    const ipsFor = (entries: string[]) =>
      fc.array(fc.oneof(addressText, anyIp.map(formatIp), fc.ipV4().map((a) => `::ffff:${a}`), { weight: 3, arbitrary: near(entries) }), { maxLength: 8 });
    const seen = { allowed: 0, denied: 0 };
    fc.assert(
      fc.property(
        fc.array(block, { minLength: 1, maxLength: 6 }).chain((entries) => fc.tuple(fc.constant(entries), ipsFor(entries))),
        ([entries, ips]) => {
          // Node maps IPv4 onto IPv6 rules (::/0 holds 1.2.3.4) where keyward does not: one list per family.
          const lists = { 4: new BlockList(), 6: new BlockList() };
          for (const c of entries.map(parseCidr)) if (c !== null) lists[c.version].addSubnet(formatIp(c), c.prefix, c.version === 4 ? "ipv4" : "ipv6");
          const allowed = compileIpAllowlist(entries);
          for (const text of ips) {
            const ip = parseIp(text);
            const want = ip !== null && lists[ip.version].check(formatIp(ip), ip.version === 4 ? "ipv4" : "ipv6");
            expect(allowed(text), `${entries} ∋ ${text}`).toBe(want);
            seen[want ? "allowed" : "denied"]++;
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
    // Both answers are reached often, not a suite of denials.
    expect(seen.allowed).toBeGreaterThan(NUM_RUNS / 2);
    expect(seen.denied).toBeGreaterThan(NUM_RUNS / 2);
  });
});

/** `bytes/prefix` with the host bits of `bytes` cleared. */
function blockText(version: 4 | 6, bytes: Uint8Array, prefix: number): string {
  const shift = BigInt(bytes.length * 8 - prefix);
  return `${formatIp({ version, bytes: fromBigInt((toBigInt(bytes) >> shift) << shift, bytes.length) })}/${prefix}`;
}

describe("sorted ranges", () => {
  /** Counts the reads of a range table's first-address words made by one lookup. */
  function countReads(r: ReturnType<typeof buildRanges>, ip: Uint32Array): { found: boolean; reads: number } {
    let reads = 0;
    const starts = new Proxy(r.starts, {
      get(target, key) {
        if (typeof key === "string" && /^[0-9]+$/.test(key)) reads++;
        return Reflect.get(target, key);
      },
    });
    return { found: inRanges({ ...r, starts }, ip), reads };
  }

  it("a lookup in 65 536 IPv4 blocks reads O(log n) words", () => {
    const blocks: Cidr[] = [];
    for (let i = 0; i < 65_536; i++) blocks.push(parseCidr(`10.${i >> 8}.${i & 255}.0/25`)!);
    const r = buildRanges(blocks, 1);
    expect(r.count).toBe(65_536);
    for (const [ip, expected] of [
      [(10 << 24) >>> 0, true],
      [((10 << 24) | (200 << 16) | (3 << 8) | 127) >>> 0, true],
      [((10 << 24) | (200 << 16) | (3 << 8) | 128) >>> 0, false],
      [0xffffffff, false],
      [0, false],
    ] as const) {
      const { found, reads } = countReads(r, Uint32Array.of(ip));
      expect(found).toBe(expected);
      expect(reads).toBeLessThanOrEqual(17); // ⌈log2(65 536)⌉ + 1
    }
  });

  it("IPv6 blocks compare at most four words per step", () => {
    const blocks: Cidr[] = [];
    for (let i = 0; i < 1024; i++) blocks.push(parseCidr(`2001:db8:${i.toString(16)}::/48`)!);
    const r = buildRanges(blocks, 4);
    const { found, reads } = countReads(r, Uint32Array.of(0x20010db8, 0x03ff0000, 0, 1));
    expect(found).toBe(true);
    expect(reads).toBeLessThanOrEqual(4 * 11);
  });

  it("nested and duplicate blocks collapse into the widest", () => {
    const r = buildRanges(["10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/8", "10.255.255.255/32", "11.0.0.0/8"].map((s) => parseCidr(s)!), 1);
    expect(r.count).toBe(2);
    expect([...r.starts]).toEqual([10 << 24, 11 << 24]);
    expect([...r.ends]).toEqual([0x0affffff, 0x0bffffff]);
  });
});
