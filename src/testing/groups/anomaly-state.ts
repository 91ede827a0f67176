// Conformance group "anomalyState" of describeTokenStore: the optional
// AnomalyStateStore part. Its tests skip themselves when
// `capabilities.anomalyState` is not true.
import { expect, it } from "vitest";
import type { SeenEntry } from "../../store/types.js";
import { makeStoredToken, randomId } from "../fixtures.js";
import { callsAcross, expectCode, type SuiteContext, T } from "../suite.js";

/** Registers the "anomalyState" tests; `ctx.store` is the store of the running test. */
export function anomalyStateGroup(ctx: SuiteContext): void {
  const on = () => ctx.store.capabilities.anomalyState === true;
  const ip = (tokenId: string, value: string, at: number): SeenEntry => ({ tokenId, kind: "ip", value, at });
  const use = (tokenId: string, at: number): SeenEntry => ({ tokenId, kind: "use", value: "", at });

  it("without the capability, touchSeen is STORE_UNSUPPORTED", async (test) => {
    if (on()) return test.skip();
    await expectCode(ctx.store.touchSeen([use(randomId("tok"), T)], 8), "STORE_UNSUPPORTED");
  });

  it("answers the time stored before each sighting (null when new), in order, and keeps the later time", async (test) => {
    if (!on()) return test.skip();
    const [a, b] = [randomId("tok"), randomId("tok")];
    expect(await ctx.store.touchSeen([use(a, T), ip(a, "203.0.113.9", T), ip(b, "203.0.113.9", T)], 8)).toEqual([null, null, null]);
    expect(await ctx.store.touchSeen([use(a, T + 5_000), ip(a, "203.0.113.9", T + 5_000), ip(a, "2001:db8::1", T + 5_000)], 8)).toEqual([
      T,
      T,
      null,
    ]);
    // An older sighting does not move the time back; the same value twice in one call sees the first.
    expect(await ctx.store.touchSeen([use(a, T + 1_000), use(a, T + 9_000), use(a, T + 2_000)], 8)).toEqual([T + 5_000, T + 5_000, T + 9_000]);
    // Kinds are separate: an origin equal to an IP's text is new.
    expect(await ctx.store.touchSeen([{ tokenId: a, kind: "origin", value: "203.0.113.9", at: T }], 8)).toEqual([null]);
    expect(await ctx.store.touchSeen([], 8)).toEqual([]);
  });

  it("keeps at most maxPerToken values of each kind per token, forgetting the least recently seen", async (test) => {
    if (!on()) return test.skip();
    const a = randomId("tok");
    for (let i = 0; i < 5; i++) await ctx.store.touchSeen([ip(a, `198.51.100.${i}`, T + i)], 3);
    await ctx.store.touchSeen([use(a, T)], 3);
    // .0 and .1 were forgotten (least recent); .2 is refreshed, so .5 pushes out .3, and so on.
    expect(await ctx.store.touchSeen([ip(a, "198.51.100.2", T + 10)], 3)).toEqual([T + 2]);
    expect(await ctx.store.touchSeen([ip(a, "198.51.100.5", T + 11)], 3)).toEqual([null]);
    expect(await ctx.store.touchSeen([ip(a, "198.51.100.0", T + 12)], 3)).toEqual([null]);
    expect(await ctx.store.touchSeen([ip(a, "198.51.100.3", T + 13)], 3)).toEqual([null]);
    // Now .3, .0 and .5 are kept: .2 (seen at T + 10) was the least recent when .3 came back.
    expect(await ctx.store.touchSeen([ip(a, "198.51.100.5", T + 14), ip(a, "198.51.100.2", T + 14), use(a, T + 14)], 3)).toEqual([
      T + 11,
      null,
      T,
    ]);
  });

  it("of concurrent touches of one new value exactly one answers null", async (test) => {
    if (!on()) return test.skip();
    const a = randomId("tok");
    const answers = await Promise.all(await callsAcross(ctx, ctx.concurrency, (i, store) => store.touchSeen([ip(a, "192.0.2.1", T + i)], 8)));
    expect(answers.filter(([p]) => p === null)).toHaveLength(1);
  });

  it("refuses bad sightings with INVALID_INPUT naming the field, and writes nothing", async (test) => {
    if (!on()) return test.skip();
    const a = randomId("tok");
    await expectCode(ctx.store.touchSeen([use(a, T), { tokenId: a, kind: "ua", value: "x", at: T } as unknown as SeenEntry], 8), "INVALID_INPUT");
    await expectCode(ctx.store.touchSeen([ip(a, "", T)], 8), "INVALID_INPUT");
    await expectCode(ctx.store.touchSeen([ip(a, "x".repeat(513), T)], 8), "INVALID_INPUT");
    await expectCode(ctx.store.touchSeen([ip(a, "192.0.2.1", Number.NaN)], 8), "INVALID_INPUT");
    await expectCode(ctx.store.touchSeen([use(a, T)], 0), "INVALID_INPUT");
    expect(await ctx.store.touchSeen([use(a, T)], 8)).toEqual([null]);
  });

  it("a hard delete removes the token's state", async (test) => {
    if (!on() || ctx.store.capabilities.hardDelete !== true) return test.skip();
    const t = makeStoredToken();
    await ctx.store.insert(t);
    await ctx.store.touchSeen([use(t.id, T), ip(t.id, "192.0.2.1", T)], 8);
    await ctx.store.delete(t.id);
    expect(await ctx.store.touchSeen([use(t.id, T + 1), ip(t.id, "192.0.2.1", T + 1)], 8)).toEqual([null, null]);
  });
}
