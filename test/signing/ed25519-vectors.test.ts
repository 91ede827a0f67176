// Ed25519 verification: the RFC 8032 §7.1 vectors and the edge cases where
// implementations differ (small-order keys and R, non-canonical encodings,
// mixed-order points: cofactored or cofactorless equation) give the same
// verdict on every backend.
import { createHash } from "node:crypto";
import { Point } from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { ed25519Sign, ed25519Verify } from "../../src/signing/algorithms.js";
import { isSmallOrderEncoding } from "../../src/signing/keys.js";
import { BACKENDS, withBackend } from "./helpers.js";

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const le = (b: Uint8Array) => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
const toLE = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 255n));
const sha512 = (...parts: Uint8Array[]) => {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const utf8 = (s: string) => new TextEncoder().encode(s);
const signature = (r: Uint8Array, s: bigint) => Uint8Array.from([...r, ...toLE(s)]);
/** k = SHA-512(R || A || M) mod L (RFC 8032 §5.1.7 step 2). */
const challenge = (r: Uint8Array, a: Uint8Array, m: Uint8Array) => le(sha512(r, a, m)) % L;

/** RFC 8032 §7.1 TEST 1, 2 and 3: seed, public key, message, signature. */
const RFC8032 = [
  [
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  ],
  [
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  ],
  [
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  ],
].map(([seed, publicKey, message, sig]) => ({ seed: hex(seed!), publicKey: hex(publicKey!), message: hex(message!), sig: hex(sig!) }));

const IDENTITY = Point.ZERO.toBytes(); // 01 00 … 00
const ORDER_4 = new Uint8Array(32); // y = 0: (±√-1, 0), of order 4
const ORDER_8 = hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");

/** y of [i]T8 for a point T8 of order 8: i = 0..7 gives the 8 points of small order. */
const T8y = (i: number) => le(Point.fromBytes(ORDER_8).multiply(BigInt(i), false).toBytes()) & ((1n << 255n) - 1n);

/** The first message `${prefix}${i}` whose challenge under (R, A) satisfies `ok`. */
function messageWhere(r: Uint8Array, a: Uint8Array, prefix: string, ok: (k: bigint) => boolean): Uint8Array {
  for (let i = 0; ; i++) {
    const m = utf8(`${prefix}${i}`);
    if (ok(challenge(r, a, m))) return m;
  }
}

/** R = identity, S = 0 verifies under a small-order A, cofactorless, whenever k is a multiple of A's order. */
function smallOrderForgery(a: Uint8Array, order: bigint): [Uint8Array, Uint8Array, Uint8Array] {
  return [a, messageWhere(IDENTITY, a, "forged ", (k) => k % order === 0n), signature(IDENTITY, 0n)];
}

/** An honest signer of RFC 8032 §5.1.6 with an explicit nonce r, for any public key bytes A. */
function signWith(a: bigint, publicKey: Uint8Array, r: bigint, R: InstanceType<typeof Point>, message: Uint8Array): Uint8Array {
  const rBytes = R.toBytes();
  return signature(rBytes, (r + challenge(rBytes, publicKey, message) * a) % L);
}

/** The secret scalar of RFC 8032 §5.1.5 for a seed. */
function scalarOf(seed: Uint8Array): bigint {
  const h = sha512(seed).slice(0, 32);
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  return le(h) % L;
}

async function verdicts(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const b of BACKENDS) out.push(await withBackend(b, () => ed25519Verify(publicKey, message, sig)));
  return out;
}

describe("Ed25519 vectors on every backend", () => {
  it("the test points are what their names say", () => {
    expect(Point.fromBytes(ORDER_4).multiply(4n, false).is0()).toBe(true);
    expect(Point.fromBytes(ORDER_4).multiply(2n, false).is0()).toBe(false);
    expect(Point.fromBytes(ORDER_8).multiply(8n, false).is0()).toBe(true);
    expect(Point.fromBytes(ORDER_8).multiply(4n, false).is0()).toBe(false);
  });

  it("RFC 8032 §7.1: the signatures are reproduced and verify; altered, they do not", async () => {
    for (const { seed, publicKey, message, sig } of RFC8032) {
      for (const b of BACKENDS) expect([...(await withBackend(b, () => ed25519Sign(seed, message)))]).toEqual([...sig]);
      expect(await verdicts(publicKey, message, sig)).toEqual([true, true, true]);
      expect(await verdicts(publicKey, utf8("other"), sig)).toEqual([false, false, false]);
      // S + L: the same equation, but S must be below L (RFC 8032 §5.1.7 step 1).
      expect(await verdicts(publicKey, message, signature(sig.subarray(0, 32), le(sig.subarray(32)) + L))).toEqual([false, false, false]);
    }
  });

  it("a small-order public key verifies no signature, not even R = identity, S = 0", async () => {
    const forgeries = [
      smallOrderForgery(IDENTITY, 1n),
      smallOrderForgery(ORDER_4, 4n),
      smallOrderForgery(ORDER_8, 8n),
      // The identity again, encoded with y = p + 1 (not canonical: RFC 8032 §5.1.3 wants y < p).
      smallOrderForgery(toLE(P + 1n), 1n),
    ];
    for (const [publicKey, message, sig] of forgeries) {
      // The forgery is valid by the cofactorless equation [S]B = R + [k]A: only the key check refuses it.
      const kA = Point.fromBytes(publicKey, true).multiply(challenge(IDENTITY, publicKey, message), false);
      expect(Point.fromBytes(IDENTITY).add(kA).is0()).toBe(true);
      expect(await verdicts(publicKey, message, sig)).toEqual([false, false, false]);
    }
  });

  it("a signature whose R is of small order is refused everywhere, even where [S]B = R + [k]A holds", async () => {
    const { seed, publicKey } = RFC8032[0]!;
    const a = scalarOf(seed);
    const message = utf8("keyward identity R");
    // R = identity, S = [k]a: only the key's holder can make it, and it satisfies the cofactorless
    // equation. OpenSSL (node:crypto, Node's WebCrypto) refuses it; BoringSSL (Bun, Deno, browsers) and noble accept it.
    const identityR = signature(IDENTITY, (challenge(IDENTITY, publicKey, message) * a) % L);
    expect(Point.BASE.multiply(le(identityR.subarray(32))).equals(Point.fromBytes(publicKey).multiply(challenge(IDENTITY, publicKey, message)))).toBe(true);
    expect(await verdicts(publicKey, message, identityR)).toEqual([false, false, false]);
    // A mixed-order key [a]B + T8 and R = [2]T8 (order 4), for a message where [-k]T8 = R: the equation holds too.
    const T8 = Point.fromBytes(ORDER_8);
    const mixedA = Point.BASE.multiply(a).add(T8).toBytes();
    const order4 = T8.multiply(2n).toBytes();
    const m4 = messageWhere(order4, mixedA, "order 4 ", (k) => k % 8n === 6n);
    const order4R = signature(order4, (challenge(order4, mixedA, m4) * a) % L);
    expect(await verdicts(mixedA, m4, order4R)).toEqual([false, false, false]);
  });

  it("isSmallOrderEncoding: exactly the encodings of the 8 small-order points, canonical or not, either sign", () => {
    const encodings = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const y = T8y(i);
      for (const value of y < 19n ? [y, y + P] : [y]) {
        for (const sign of [0n, 1n]) encodings.add(Buffer.from(toLE(value | (sign << 255n))).toString("hex"));
      }
    }
    expect(encodings.size).toBe(14);
    for (const e of encodings) {
      expect(isSmallOrderEncoding(hex(e)), e).toBe(true);
      // Each decodes (leniently, as ZIP 215 does) to a point of small order.
      expect(Point.fromBytes(hex(e), true).isSmallOrder(), e).toBe(true);
    }
    // Anything else is not: real keys and R values, and one-bit changes of the list's entries.
    for (const { publicKey, sig } of RFC8032) {
      expect(isSmallOrderEncoding(publicKey)).toBe(false);
      expect(isSmallOrderEncoding(sig)).toBe(false);
    }
    for (const e of encodings) {
      for (const bit of [0, 8, 100, 247, 254]) {
        const changed = hex(e);
        changed[bit >> 3]! ^= 1 << (bit & 7);
        const name = Buffer.from(changed).toString("hex");
        if (!encodings.has(name)) expect(isSmallOrderEncoding(changed), name).toBe(false);
      }
    }
  });

  it("the equation is cofactorless: a mixed-order R or key verifies only where [S]B - [k]A is R itself", async () => {
    const { seed, publicKey } = RFC8032[0]!;
    const a = scalarOf(seed);
    const T8 = Point.fromBytes(ORDER_8);
    expect(Point.BASE.multiply(a).toBytes()).toEqual(publicKey);
    const message = utf8("keyward edge vector");
    // R = [r]B + T8 under the honest key: [8][S]B = [8]R + [8][k]A holds, [S]B = R + [k]A does not.
    const r = 1000n;
    const mixedR = signWith(a, publicKey, r, Point.BASE.multiply(r).add(T8), message);
    expect(await verdicts(publicKey, message, mixedR)).toEqual([false, false, false]);
    // A = [a]B + T8, signed honestly: [S]B - [k]A = R - [k]T8, which is R only when 8 divides k.
    const mixedA = Point.BASE.multiply(a).add(T8).toBytes();
    const R = Point.BASE.multiply(r);
    const honest = (m: Uint8Array) => signWith(a, mixedA, r, R, m);
    const kOdd = messageWhere(R.toBytes(), mixedA, "mixed ", (k) => k % 8n !== 0n);
    expect(await verdicts(mixedA, kOdd, honest(kOdd))).toEqual([false, false, false]);
    const k8 = messageWhere(R.toBytes(), mixedA, "mixed ", (k) => k % 8n === 0n);
    expect(await verdicts(mixedA, k8, honest(k8))).toEqual([true, true, true]);
  });
});
