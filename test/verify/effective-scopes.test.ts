// Which scopes a token may use on a request: those it holds, that its kind
// allows (publishable tokens read only, unless allowPublishableWrites), and
// that its account's plan ceiling covers, all three of the same scope.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Keyward, MemoryStore } from "keyward";
import { parseScope, type RequiredScopes, scopeGrants } from "keyward/policy";

function instances() {
  const store = new MemoryStore();
  // Tokens holding write scopes while publishable are made where that was allowed.
  const lenient = new Keyward({ store, prefix: "acme", env: "test", allowPublishableWrites: true });
  const strict = new Keyward({ store, prefix: "acme", env: "test" });
  return { lenient, strict };
}

describe("effective scopes: token, kind and plan ceiling in one test per scope", () => {
  it("anyOf is met only by one scope that is held, allowed for a publishable token and within the ceiling", async () => {
    const { lenient, strict } = instances();
    const { token } = await lenient.tokens.create({ owner: "acct_1", kind: "publishable", scopes: ["core:read", "orders:write"] });
    await lenient.accounts.set("acct_1", { ceiling: ["orders:write"] });
    // core:read is outside the ceiling; orders:write is a write scope of a publishable token.
    expect(await strict.check({ token, scope: "core:read" })).toMatchObject({ code: "SCOPE_DENIED", scope: "core:read" });
    expect(await strict.check({ token, scope: "orders:write" })).toMatchObject({ code: "SCOPE_DENIED", scope: "orders:write" });
    expect(await strict.check({ token, scope: { anyOf: ["core:read", "orders:write"] } })).toMatchObject({ code: "SCOPE_DENIED", scope: "core:read" });
    // allOf: orders:write fails the token's own rules (named first), core:read only the ceiling.
    expect(await strict.check({ token, scope: { allOf: ["core:read", "orders:write"] } })).toMatchObject({ code: "SCOPE_DENIED", scope: "orders:write" });
    // Where publishable writes are allowed, orders:write is usable: within the ceiling and held.
    expect((await lenient.check({ token, scope: { anyOf: ["core:read", "orders:write"] } })).ok).toBe(true);
  });

  it("allOf names the first scope the token itself cannot use, else the first outside the ceiling", async () => {
    const { lenient, strict } = instances();
    const { token } = await lenient.tokens.create({ owner: "acct_1", kind: "publishable", scopes: ["core:read", "premium:read", "orders:write"] });
    await lenient.accounts.set("acct_1", { ceiling: ["core:read", "orders:*"] });
    // premium:read is held but outside the ceiling; orders:write is within it but a write.
    expect(await strict.check({ token, scope: ["core:read", "premium:read", "orders:write"] })).toMatchObject({ code: "SCOPE_DENIED", scope: "orders:write" });
    expect(await strict.check({ token, scope: ["core:read", "premium:read"] })).toMatchObject({ code: "SCOPE_DENIED", scope: "premium:read" });
    expect(await strict.check({ token, scope: { allOf: ["core:read", "orders:write"] } })).toMatchObject({ code: "SCOPE_DENIED", scope: "orders:write" });
    expect((await strict.check({ token, scope: { allOf: ["core:read"] } })).ok).toBe(true);
  });

  it("a scope the token itself cannot use is denied before its account is read: no store call, whatever the store does", async () => {
    let reads = 0;
    let mode: "up" | "failing" | "hung" = "up";
    class Accounts extends MemoryStore {
      override getAccount(owner: string) {
        reads++;
        if (mode === "failing") return Promise.reject(new Error("accounts down"));
        if (mode === "hung") return new Promise<never>(() => {});
        return super.getAccount(owner);
      }
    }
    // No cache: every check that needs the account reads it.
    const store = new Accounts();
    const kw = new Keyward({ store, prefix: "acme", env: "test", cache: { maxEntries: 0 }, lookupTimeoutMs: 60_000, usage: { enabled: false } });
    const lenient = new Keyward({ store, prefix: "acme", env: "test", allowPublishableWrites: true });
    const { token } = await lenient.tokens.create({ owner: "acct_1", kind: "publishable", scopes: ["core:read", "orders:write"] });
    const { token: bare } = await kw.tokens.create({ owner: "acct_2", kind: "secret", scopes: ["core:read"] });
    await kw.accounts.set("acct_1", { ceiling: ["core:*", "orders:*"] });
    const denied = [
      [token, "admin:write"], // not held
      [token, "orders:write"], // held, but a write of a publishable token
      [token, { allOf: ["core:read", "admin:read"] }],
      [token, { anyOf: ["admin:read", "orders:write"] }],
      [bare, "admin:write"], // an owner without an account
    ] as const;
    for (const m of ["up", "failing", "hung"] as const) {
      mode = m;
      reads = 0;
      for (let i = 0; i < 100; i++) {
        for (const [t, scope] of denied) {
          const d = await Promise.race([kw.check({ token: t, scope }), new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
          expect(d?.code, `${m} ${JSON.stringify(scope)}`).toBe("SCOPE_DENIED");
        }
      }
      expect(reads, m).toBe(0);
    }
    // A scope the token may use needs the account (its ceiling), read once per check here.
    mode = "up";
    for (let i = 0; i < 10; i++) expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    expect(reads).toBe(10);
    mode = "failing";
    expect(await kw.check({ token, scope: "core:read" })).toMatchObject({ code: "STORE_UNAVAILABLE", status: 503 });
  });

  it("agrees with a straightforward oracle over random tokens, kinds, ceilings and requirements", async () => {
    const { lenient, strict } = instances();
    const segment = fc.constantFrom("a", "b", "*");
    const action = fc.constantFrom("read", "write", "*");
    const scope = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 2 }), action).map(([path, act]) => `${path.join("/")}:${act}`);
    const list = (max: number) => fc.uniqueArray(scope, { minLength: 1, maxLength: max });
    const requirement = fc.oneof(
      scope,
      list(3),
      list(3).map((l) => ({ allOf: l })),
      list(3).map((l) => ({ anyOf: l })),
    );
    /** The oracle: a scope is usable when the token holds it, its kind may use it, and the ceiling (if any) covers it. */
    const usable = (held: string[], kind: string, writes: boolean, ceiling: string[] | null, s: string) =>
      held.some((g) => scopeGrants(g, s)) &&
      (kind === "secret" || writes || parseScope(s)?.action === "read") &&
      (ceiling === null || ceiling.some((c) => scopeGrants(c, s)));
    let owners = 0;
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("publishable", "secret"),
        list(4),
        fc.option(list(3), { nil: null }),
        fc.array(requirement, { minLength: 1, maxLength: 6 }),
        async (kind, held, ceiling, requirements) => {
          const owner = `acct_${++owners}`;
          const { token } = await lenient.tokens.create({ owner, kind: kind as "publishable" | "secret", scopes: held });
          // A ceiling leaving the token no scope at all is refused at set: not a request-time case.
          if (ceiling !== null && !(await lenient.accounts.set(owner, { ceiling }).then(() => true, () => false))) return;
          for (const [kw, writes] of [[strict, false], [lenient, true]] as const) {
            for (const need of requirements) {
              const names = typeof need === "string" ? [need] : Array.isArray(need) ? need : "anyOf" in need ? need.anyOf : need.allOf;
              const ok = (s: string) => usable(held, kind, writes, ceiling, s);
              const own = (s: string) => usable(held, kind, writes, null, s);
              const anyOf = typeof need === "object" && "anyOf" in need;
              // allOf names the first scope the token itself cannot use, else the first outside the ceiling.
              const expected = anyOf ? (names.some(ok) ? undefined : names[0]) : (names.find((s) => !own(s)) ?? names.find((s) => !ok(s)));
              const d = await kw.check({ token, scope: need as RequiredScopes });
              expect(d.ok ? undefined : [d.code, d.scope]).toEqual(expected === undefined ? undefined : ["SCOPE_DENIED", expected]);
              checked++;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(checked).toBeGreaterThan(300);
  });
});
