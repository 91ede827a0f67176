// Conformance group "get" of describeTokenStore.
import { expect, it } from "vitest";
import { makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { type SuiteContext, T } from "../suite.js";

/** Registers the "get" tests; `ctx.store` is the store of the running test. */
export function getGroup(ctx: SuiteContext): void {
    it("returns null for an unknown id", async () => {
      expect(await ctx.store.get(randomId("tok"))).toBeNull();
    });

    it("an id not found is found once inserted", async () => {
      const t = makeStoredToken();
      expect(await ctx.store.get(t.id)).toBeNull();
      await ctx.store.insert(t);
      expect(await ctx.store.get(t.id)).toEqual(t);
    });

    it("returns a copy: mutating it does not change the store", async () => {
      const t = makeStoredToken({ metadata: { a: 1 }, previous: [{ hash: randomHash(), expiresAt: T }] });
      await ctx.store.insert(t);
      const got = (await ctx.store.get(t.id))!;
      got.name = "mutated";
      got.metadata.a = 2;
      got.policy.scopes.push("premium:read");
      got.previous.pop();
      got.revision = 99;
      expect(await ctx.store.get(t.id)).toEqual(t);
      expect(await ctx.store.get(t.id)).not.toBe(await ctx.store.get(t.id));
    });
}
