// Conformance group "nonces" of describeTokenStore.
import { expect, it } from "vitest";
import { randomId } from "../fixtures.js";
import { expectCode, type SuiteContext, T } from "../suite.js";

/** Registers the "nonces" tests; `ctx.store` is the store of the running test. */
export function noncesGroup(ctx: SuiteContext): void {
  it("returns true the first time and false while the entry lives", async () => {
    const key = { tokenId: randomId("tok"), nonce: randomId("nonce") };
    expect(await ctx.store.rememberNonce(key, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce(key, T + 1000, T)).toBe(false);
    expect(await ctx.store.rememberNonce(key, T + 5000, T + 999)).toBe(false);
    expect(await ctx.store.rememberNonce({ ...key, nonce: randomId("nonce") }, T + 1000, T)).toBe(true);
  });

  it("returns true again from its expiry on (an entry is expired at now ≥ expiresAt), with the new expiry", async () => {
    const key = { tokenId: randomId("tok"), nonce: randomId("nonce") };
    expect(await ctx.store.rememberNonce(key, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce(key, T + 5000, T + 999)).toBe(false);
    expect(await ctx.store.rememberNonce(key, T + 5000, T + 1000)).toBe(true);
    expect(await ctx.store.rememberNonce(key, T + 9000, T + 4999)).toBe(false);
    expect(await ctx.store.rememberNonce(key, T + 9000, T + 5000)).toBe(true);
  });

  it("keeps an expiry to the millisecond (not rounded to a second either way), and nonces that differ only in case apart", async () => {
    const key = { tokenId: randomId("tok"), nonce: randomId("nonce") };
    expect(await ctx.store.rememberNonce(key, T + 1500, T)).toBe(true);
    expect(await ctx.store.rememberNonce(key, T + 9000, T + 1000)).toBe(false);
    expect(await ctx.store.rememberNonce(key, T + 9000, T + 1499)).toBe(false);
    expect(await ctx.store.rememberNonce(key, T + 9000, T + 1500)).toBe(true);
    const cased = { tokenId: randomId("tok"), nonce: "nOnCe" };
    expect(await ctx.store.rememberNonce(cased, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce({ ...cased, nonce: "NoNcE" }, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce({ ...cased, nonce: "nonce" }, T + 1000, T)).toBe(true);
  });

  it("keys nonces per token: the same nonce of two tokens is two entries", async () => {
    const nonce = randomId("nonce");
    const a = { tokenId: randomId("tok"), nonce };
    const b = { tokenId: randomId("tok"), nonce };
    expect(await ctx.store.rememberNonce(a, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce(b, T + 1000, T)).toBe(true);
    expect(await ctx.store.rememberNonce(a, T + 1000, T)).toBe(false);
  });

  it("stores odd nonces as data (quotes, unicode, 8 KB)", async () => {
    const tokenId = randomId("tok");
    const odd = ["'; DROP TABLE x; --", "a\\u0000b", "\u{1F600}\u202e", "x".repeat(8192), "%_*"];
    for (const nonce of odd) expect(await ctx.store.rememberNonce({ tokenId, nonce }, T + 1000, T)).toBe(true);
    for (const nonce of odd) expect(await ctx.store.rememberNonce({ tokenId, nonce }, T + 1000, T)).toBe(false);
    expect(await ctx.store.rememberNonce({ tokenId, nonce: "a" }, T + 1000, T)).toBe(true);
  });

  it("refuses a nonce holding a lone surrogate or NUL (INVALID_INPUT): a store may write the one as U+FFFD and cut the other, two nonces as one", async () => {
    const tokenId = randomId("tok");
    for (const nonce of ["n\uD800", "n\uDBFF", "\uDC00n", "n\u0000a", "n\u0000b"]) await expectCode(ctx.store.rememberNonce({ tokenId, nonce }, T + 1000, T), "INVALID_INPUT");
    expect(await ctx.store.rememberNonce({ tokenId, nonce: "n\uFFFD" }, T + 1000, T)).toBe(true);
  });
}
