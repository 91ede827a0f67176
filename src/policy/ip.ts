/**
 * IPv4 / IPv6 addresses and CIDR allowlists for `keyward/policy`.
 *
 * Parsing is deliberately strict, because lenient forms are how allowlists
 * get bypassed (a filter and the OS reading `0127.0.0.1` differently):
 * - IPv4 is exactly four decimal octets 0–255 without leading zeros
 *   (RFC 6943 §3.1.1 warns about the octal / hex / short forms of
 *   `inet_aton`, which are all refused: `01.2.3.4`, `0x7f.1`, `127.1`,
 *   `2130706433`);
 * - IPv6 is the text form of RFC 4291 §2.2: eight groups of 1–4 hex digits,
 *   one `::` for one or more zero groups, optionally a dotted IPv4 address in
 *   the last 32 bits. Zone ids (`fe80::1%eth0`, RFC 6874) and brackets are
 *   refused;
 * - an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is the
 *   IPv4 client it maps, so it is normalised to IPv4 everywhere: it matches
 *   IPv4 CIDRs and never IPv6 ones (not even `::/0`).
 *
 * Every function here is pure, never throws and runs in bounded time.
 *
 * @module keyward/policy
 */

/** A parsed address: 4 bytes for IPv4 (including IPv4-mapped IPv6), 16 for IPv6. */
export interface ParsedIp {
  version: 4 | 6;
  bytes: Uint8Array;
}

/** A parsed CIDR block: the network address (host bits all zero) and its prefix length. */
export interface Cidr {
  version: 4 | 6;
  bytes: Uint8Array;
  /** 0–32 for IPv4, 0–128 for IPv6. */
  prefix: number;
}

/** Compiled allowlist: is this (untrusted) address allowed? */
export type IpMatcher = (ip: string | null | undefined) => boolean;

/** Longest IPv6 text form: six groups of four hex digits and a dotted quad. */
const MAX_IP_LENGTH = 45;
/** Address, "/" and a three-digit prefix. */
const MAX_CIDR_LENGTH = MAX_IP_LENGTH + 4;

// --- IPv4 -------------------------------------------------------------------

/** Parses `s[from, to)` as a strict dotted quad; returns the uint32 or -1. */
function parseV4Range(s: string, from: number, to: number): number {
  if (to - from < 7 || to - from > 15) return -1;
  let result = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      result = result * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // A leading zero is only allowed for the octet "0" itself (no octal).
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return result * 256 + octet;
}

// --- IPv6 -------------------------------------------------------------------

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses the colon-separated groups of `s[from, to)` into `groups` from
 * `groups.length` on (the dotted IPv4 tail, allowed only when `last`, adds
 * two groups). Returns false on any syntax error or more than 8 groups.
 */
function parseGroups(s: string, from: number, to: number, last: boolean, groups: number[]): boolean {
  if (from === to) return true;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && s.charCodeAt(i) !== 58 /* : */) continue;
    const len = i - start;
    if (len === 0) return false;
    if (len <= 4 && (i < to || s.indexOf(".", start) === -1 || s.indexOf(".", start) >= to)) {
      let v = 0;
      for (let j = start; j < i; j++) {
        const h = hexValue(s.charCodeAt(j));
        if (h < 0) return false;
        v = v * 16 + h;
      }
      groups.push(v);
    } else if (i === to && last) {
      // RFC 4291 §2.2 form 3: the low-order 32 bits as a dotted quad.
      const v4 = parseV4Range(s, start, to);
      if (v4 < 0) return false;
      groups.push(v4 >>> 16, v4 & 0xffff);
    } else {
      return false;
    }
    if (groups.length > 8) return false;
    start = i + 1;
  }
  return true;
}

/** Parses a strict IPv6 text form into 8 groups of 16 bits, or null. */
function parseV6Groups(s: string): number[] | null {
  if (s.length < 2 || s.length > MAX_IP_LENGTH) return null;
  const dc = s.indexOf("::");
  const head: number[] = [];
  if (dc === -1) {
    if (!parseGroups(s, 0, s.length, true, head) || head.length !== 8) return null;
    return head;
  }
  if (s.indexOf("::", dc + 1) !== -1) return null;
  const tail: number[] = [];
  if (!parseGroups(s, 0, dc, false, head)) return null;
  if (!parseGroups(s, dc + 2, s.length, true, tail)) return null;
  // "::" stands for one or more zero groups (RFC 4291 §2.2 form 2).
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return null;
  for (let i = 0; i < zeros; i++) head.push(0);
  for (const g of tail) head.push(g);
  return head;
}

/** True for `::ffff:0:0/96`, the IPv4-mapped range of RFC 4291 §2.5.5.2. */
function isMapped(groups: readonly number[]): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}

function v4Bytes(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
}

function groupsToBytes(groups: readonly number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >>> 8;
    out[2 * i + 1] = groups[i]! & 255;
  }
  return out;
}

// --- public parsing ---------------------------------------------------------

/**
 * Parses an IPv4 or IPv6 address in its strict text form.
 *
 * @param s any value
 * @returns the version and bytes (IPv4-mapped IPv6 normalised to version 4), or `null`
 * @example
 * ```ts
 * parseIp("203.0.113.7");       // { version: 4, bytes: Uint8Array [203, 0, 113, 7] }
 * parseIp("::ffff:203.0.113.7"); // the same
 * parseIp("127.1");             // null
 * ```
 */
export function parseIp(s: unknown): ParsedIp | null {
  if (typeof s !== "string" || s.length > MAX_IP_LENGTH) return null;
  if (s.indexOf(":") === -1) {
    const v = parseV4Range(s, 0, s.length);
    return v < 0 ? null : { version: 4, bytes: v4Bytes(v) };
  }
  const groups = parseV6Groups(s);
  if (groups === null) return null;
  if (isMapped(groups)) return { version: 4, bytes: v4Bytes(((groups[6]! << 16) | groups[7]!) >>> 0) };
  return { version: 6, bytes: groupsToBytes(groups) };
}

/**
 * Tells whether an address is a loopback one (127.0.0.0/8, ::1, or an
 * IPv4-mapped 127.x), as {@link parseIp} reads it (without building its
 * bytes: asked on every plain-http request to a loopback host).
 *
 * @param ip an address in text form
 * @returns `true` for a loopback address; `false` for anything else, including garbage
 */
export function isLoopbackIp(ip: unknown): boolean {
  if (typeof ip !== "string" || ip.length > MAX_IP_LENGTH) return false;
  if (ip.indexOf(":") === -1) {
    const v = parseV4Range(ip, 0, ip.length);
    return v >= 0 && v >>> 24 === 127;
  }
  const groups = parseV6Groups(ip);
  if (groups === null) return false;
  if (isMapped(groups)) return groups[6]! >>> 8 === 127;
  for (let i = 0; i < 7; i++) if (groups[i] !== 0) return false;
  return groups[7] === 1;
}

/**
 * Formats an address in its canonical text form: dotted quad for IPv4,
 * RFC 5952 §4 for IPv6 (lowercase, no leading zeros, the longest run of two
 * or more zero groups, the first one on a tie, written `::`).
 *
 * @param ip a parsed address (4 or 16 bytes)
 * @returns the canonical text; `parseIp(formatIp(ip))` gives `ip` back
 * @throws {TypeError} when `ip.bytes` is neither 4 nor 16 bytes long
 * @example
 * ```ts
 * formatIp(parseIp("2001:DB8:0:0:0:0:0:1")!); // "2001:db8::1"
 * ```
 */
export function formatIp(ip: ParsedIp): string {
  const b = ip.bytes;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new TypeError("ip.bytes must be 4 or 16 bytes long");
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not compressed.
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

function hostBitsClear(bytes: Uint8Array, prefix: number): boolean {
  const full = prefix >>> 3;
  // The partial byte's host bits, then every whole byte after it.
  if (prefix & 7 && bytes[full]! & (0xff >>> (prefix & 7))) return false;
  for (let i = (prefix + 7) >>> 3; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Decimal prefix length without leading zeros (so "/08" is refused), or -1. */
function parsePrefix(s: string, max: number): number {
  if (s.length === 0 || s.length > 3 || (s.length > 1 && s.charCodeAt(0) === 48)) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v > max ? -1 : v;
}

/**
 * Parses a CIDR block (`203.0.113.0/24`, `2001:db8::/32`) or a bare address
 * (taken as `/32` or `/128`).
 *
 * A block whose address has bits set beyond the prefix (`203.0.113.7/24`) is
 * refused rather than silently masked: it is almost always a typo for a
 * narrower block, and widening it would allow more than was meant.
 * An IPv4-mapped block with a prefix of 96 or more (`::ffff:203.0.113.0/120`)
 * is normalised to the IPv4 block (`203.0.113.0/24`).
 *
 * @param s any value
 * @returns the network bytes and prefix, or `null` when `s` is not a valid block
 * @example
 * ```ts
 * parseCidr("10.0.0.0/8");  // { version: 4, bytes: Uint8Array [10, 0, 0, 0], prefix: 8 }
 * parseCidr("10.0.0.1/8");  // null (host bits set)
 * parseCidr("2001:db8::1"); // { version: 6, bytes: …, prefix: 128 }
 * ```
 */
export function parseCidr(s: unknown): Cidr | null {
  if (typeof s !== "string" || s.length > MAX_CIDR_LENGTH) return null;
  const slash = s.indexOf("/");
  const addr = slash === -1 ? s : s.slice(0, slash);
  const prefixText = slash === -1 ? null : s.slice(slash + 1);
  if (addr.indexOf(":") === -1) {
    const v = parseV4Range(addr, 0, addr.length);
    if (v < 0) return null;
    const prefix = prefixText === null ? 32 : parsePrefix(prefixText, 32);
    if (prefix < 0) return null;
    const bytes = v4Bytes(v);
    return hostBitsClear(bytes, prefix) ? { version: 4, bytes, prefix } : null;
  }
  const groups = parseV6Groups(addr);
  if (groups === null) return null;
  const prefix = prefixText === null ? 128 : parsePrefix(prefixText, 128);
  if (prefix < 0) return null;
  const bytes = groupsToBytes(groups);
  if (!hostBitsClear(bytes, prefix)) return null;
  // With a prefix below 96 the ffff of a mapped address is host bits, refused above.
  if (isMapped(groups)) return { version: 4, bytes: bytes.slice(12), prefix: prefix - 96 };
  return { version: 6, bytes, prefix };
}

/**
 * Tells whether `s` is a valid CIDR block or bare address for an allowlist.
 *
 * @param s any value
 * @returns `true` when {@link parseCidr} would accept it
 * @example
 * ```ts
 * isValidCidr("203.0.113.0/24"); // true
 * isValidCidr("[::1]");          // false
 * ```
 */
export function isValidCidr(s: unknown): boolean {
  return parseCidr(s) !== null;
}

// --- compiled matcher -------------------------------------------------------

function maskOf(prefix: number): number {
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * @internal Not exported from `keyward/policy`; the tests count its steps.
 *
 * Disjoint address ranges sorted by first address, each address as
 * big-endian 32-bit words: one per IPv4 address, four per IPv6 address.
 */
export interface Ranges {
  readonly width: 1 | 4;
  readonly count: number;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
}

function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number, width: number): number {
  for (let w = 0; w < width; w++) {
    const x = a[ai + w]!;
    const y = b[bi + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function wordAt(bytes: Uint8Array, w: number): number {
  return ((bytes[4 * w]! << 24) | (bytes[4 * w + 1]! << 16) | (bytes[4 * w + 2]! << 8) | bytes[4 * w + 3]!) >>> 0;
}

/**
 * Turns CIDR blocks of one version into sorted disjoint ranges. Two CIDR
 * blocks are either disjoint or one contains the other, so after sorting by
 * first address (wider block first on a tie) a block that starts inside the
 * last kept range lies wholly inside it and is dropped.
 */
export function buildRanges(blocks: readonly Cidr[], width: 1 | 4): Ranges {
  const n = blocks.length;
  const starts = new Uint32Array(n * width);
  const ends = new Uint32Array(n * width);
  let count = 0;
  /** Keeps the block starting at `start[from…]` unless the last kept range holds it. */
  const keep = (start: Uint32Array, from: number, prefix: number): void => {
    if (count > 0 && compareWords(start, from, ends, (count - 1) * width, width) <= 0) return;
    for (let w = 0; w < width; w++) {
      starts[count * width + w] = start[from + w]!;
      ends[count * width + w] = (start[from + w]! | ~maskOf(prefix - 32 * w)) >>> 0;
    }
    count++;
  };
  if (width === 1) {
    // One word per address: sort numbers (first address × 64 + prefix) without a comparator.
    const keys = new Float64Array(n);
    blocks.forEach((block, i) => {
      keys[i] = wordAt(block.bytes, 0) * 64 + block.prefix;
    });
    keys.sort();
    const start = new Uint32Array(1);
    for (const key of keys) {
      start[0] = Math.floor(key / 64);
      keep(start, 0, key - start[0] * 64);
    }
  } else {
    const raw = new Uint32Array(n * 4);
    blocks.forEach((block, i) => {
      for (let w = 0; w < 4; w++) raw[i * 4 + w] = wordAt(block.bytes, w);
    });
    const order = blocks.map((_, i) => i);
    order.sort((i, j) => compareWords(raw, i * 4, raw, j * 4, 4) || blocks[i]!.prefix - blocks[j]!.prefix);
    for (const i of order) keep(raw, i * 4, blocks[i]!.prefix);
  }
  return { width, count, starts: starts.slice(0, count * width), ends: ends.slice(0, count * width) };
}

/** Binary search for the last range starting at or before `ip`; then is `ip` within its end? */
export function inRanges(r: Ranges, ip: Uint32Array): boolean {
  const width = r.width;
  let lo = 0;
  let hi = r.count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareWords(r.starts, mid * width, ip, 0, width) <= 0) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found !== -1 && compareWords(ip, 0, r.ends, found * width, width) <= 0;
}

/**
 * Compiles an allowlist of CIDR blocks (see {@link parseCidr}) into a fast
 * matcher. Blocks become sorted, disjoint address ranges (IPv4 as 32-bit
 * numbers, IPv6 as four 32-bit words), and an address is found by binary
 * search: O(log n) compares for n blocks, whatever their order or overlap.
 * IPv4 input is parsed straight to a number, without allocating.
 *
 * An empty list allows every address, even a missing one. Otherwise the
 * address must parse strictly and fall in a block; a missing or malformed
 * address is denied. Invalid entries match nothing (they never widen the
 * list; a list of only invalid entries denies everything), and so does a
 * non-array argument.
 *
 * @param entries CIDR blocks or bare addresses
 * @returns a function telling whether an address is allowed
 * @example
 * ```ts
 * const allowed = compileIpAllowlist(["203.0.113.0/24", "2001:db8::/32"]);
 * allowed("203.0.113.9");  // true
 * allowed("2001:db8::1");  // true
 * allowed("198.51.100.1"); // false
 * ```
 */
export function compileIpAllowlist(entries: readonly string[]): IpMatcher {
  if (Array.isArray(entries) && entries.length === 0) return () => true;
  const v4Blocks: Cidr[] = [];
  const v6Blocks: Cidr[] = [];
  for (const entry of Array.isArray(entries) ? entries : []) {
    const cidr = parseCidr(entry);
    if (cidr !== null) (cidr.version === 4 ? v4Blocks : v6Blocks).push(cidr);
  }
  const v4 = buildRanges(v4Blocks, 1);
  const v6 = buildRanges(v6Blocks, 4);
  // Scratch words for the address under test; the matcher is synchronous.
  const word = new Uint32Array(1);
  const words = new Uint32Array(4);
  const inV4 = (ip: number): boolean => {
    word[0] = ip;
    return inRanges(v4, word);
  };
  return (ip: string | null | undefined): boolean => {
    if (typeof ip !== "string" || ip.length > MAX_IP_LENGTH) return false;
    if (ip.indexOf(":") === -1) {
      const v = parseV4Range(ip, 0, ip.length);
      return v >= 0 && inV4(v);
    }
    const g = parseV6Groups(ip);
    if (g === null) return false;
    if (isMapped(g)) return inV4(((g[6]! << 16) | g[7]!) >>> 0);
    for (let w = 0; w < 4; w++) words[w] = ((g[2 * w]! << 16) | g[2 * w + 1]!) >>> 0;
    return inRanges(v6, words);
  };
}
