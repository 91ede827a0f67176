import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { StoredToken, TokenPolicy } from "keyward";
import { type EvaluableToken, evaluate } from "keyward/policy";
import { makeTokenPolicy } from "keyward/testing";

const NOW = Date.UTC(2026, 0, 1);

function token(policy: Partial<TokenPolicy> = {}, rest: Partial<StoredToken> = {}): EvaluableToken {
  return {
    kind: "publishable",
    env: "live",
    revokedAt: null,
    policy: makeTokenPolicy(policy),
    scheduled: [],
    ...rest,
  };
}

describe("evaluate", () => {
  it("is pure: same inputs, same answer, inputs untouched", () => {
    const t = token({ domains: ["example.com"] });
    const copy = structuredClone(t);
    const ctx = { scope: "core:read", origin: "https://example.com" };
    expect(evaluate(t, ctx, NOW)).toEqual(evaluate(t, ctx, NOW));
    expect(t).toEqual(copy);
    // Each answer is the caller's own: changing one changes no other.
    const first = evaluate(t, ctx, NOW);
    first.headers["x-added"] = "1";
    expect(evaluate(t, ctx, NOW)).toEqual({ ok: true, code: "OK", status: 200, headers: {} });
  });

  it("checks in a fixed order with stable codes and statuses", () => {
    const cases: [EvaluableToken, Parameters<typeof evaluate>[1], string, number][] = [
      [token({}, { revokedAt: NOW }), {}, "TOKEN_REVOKED", 401],
      [token({}, { env: "test" }), { env: "live" }, "TOKEN_WRONG_ENV", 401],
      [token({ expiresAt: NOW }), {}, "TOKEN_EXPIRED", 401],
      [token({}, { kind: "secret" }), { secFetchSite: "same-origin" }, "SECRET_IN_BROWSER", 403],
      [token({ requireSignedRequests: true }), {}, "SIGNATURE_REQUIRED", 401],
      [token({ requireSignedRequests: true }), { signature: { ok: false, code: "REPLAYED" } }, "REPLAYED", 401],
      [token({ ips: ["10.0.0.0/8"] }), { ip: "11.0.0.1" }, "IP_DENIED", 403],
      [token({ domains: ["example.com"] }), { origin: "https://evil.com" }, "DOMAIN_DENIED", 403],
      [token(), { scope: "premium:read" }, "SCOPE_DENIED", 403],
    ];
    for (const [t, ctx, code, status] of cases) expect(evaluate(t, ctx, NOW), code).toMatchObject({ ok: false, code, status });
    expect(evaluate(token({ requireSignedRequests: true }), { signature: { ok: true } }, NOW).ok).toBe(true);
    expect(evaluate(token({}, { kind: "secret" }), { origin: "https://a.test" }, NOW, ).ok).toBe(false);
    // What Node's fetch (undici) sends on every request: not a browser.
    expect(evaluate(token({}, { kind: "secret" }), { secFetchMode: "cors" }, NOW).ok).toBe(true);
    expect(evaluate(token({}, { kind: "secret" }), { origin: "https://a.test", allowSecretInBrowser: true }, NOW).ok).toBe(true);
  });

  it("uses the revision in force at now", () => {
    const t = token({ scopes: ["core:read"] });
    t.scheduled = [{ effectiveAt: NOW + 10, policy: { ...t.policy, scopes: ["premium:read"] } }];
    expect(evaluate(t, { scope: "core:read" }, NOW + 9).ok).toBe(true);
    expect(evaluate(t, { scope: "core:read" }, NOW + 10).ok).toBe(false);
    expect(evaluate(t, { scope: "premium:read" }, NOW + 10).ok).toBe(true);
  });

  it("decides a policy edited in place as it is now, not as it was compiled", () => {
    const t = token({ scopes: ["core:read", "premium:read"], ips: ["203.0.113.0/24"] });
    const ctx = { scope: "premium:read", ip: "203.0.113.7", origin: "https://evil.test" };
    expect(evaluate(t, ctx, NOW).ok).toBe(true);
    t.policy.ips = ["198.51.100.0/24"];
    expect(evaluate(t, ctx, NOW).code).toBe("IP_DENIED");
    t.policy.ips.push("203.0.113.0/24");
    t.policy.domains.push("example.com");
    expect(evaluate(t, ctx, NOW).code).toBe("DOMAIN_DENIED");
    t.policy.domains = [];
    t.policy.scopes.splice(1);
    expect(evaluate(t, ctx, NOW)).toMatchObject({ code: "SCOPE_DENIED", scope: "premium:read" });
    // A frozen policy cannot change: the same answers.
    const frozen = token({ scopes: ["core:read"], ips: ["10.0.0.0/8"] });
    for (const list of [frozen.policy.scopes, frozen.policy.domains, frozen.policy.ips, frozen.policy]) Object.freeze(list);
    expect(evaluate(frozen, { scope: "core:read", ip: "10.1.2.3" }, NOW).ok).toBe(true);
    expect(evaluate(frozen, { scope: "core:read", ip: "11.1.2.3" }, NOW).code).toBe("IP_DENIED");
  });

  it("never throws and never allows a restricted token on garbage context (property)", () => {
    const t = token({ domains: ["example.com"], ips: ["10.0.0.0/8"], scopes: ["datasets/x:read"] });
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), fc.anything(), (scope, ip, origin, referer) => {
        const d = evaluate(t, { scope: scope as string, ip: ip as string, origin: origin as string, referer: referer as string }, NOW);
        expect(d.ok).toBe(false);
      }),
    );
  });
});

describe("evaluate reads the request only for the rules a token has", () => {
  /** A context whose request-derived fields count their reads. */
  function countingContext(values: { ip?: string; origin?: string; referer?: string }) {
    const reads = { ip: 0, origin: 0, referer: 0 };
    const ctx = {
      scope: "core:read",
      get ip() {
        reads.ip++;
        return values.ip ?? null;
      },
      get origin() {
        reads.origin++;
        return values.origin ?? null;
      },
      get referer() {
        reads.referer++;
        return values.referer ?? null;
      },
    };
    return { ctx, reads };
  }

  it("no domain or IP rule: no address, Origin or Referer read", () => {
    const { ctx, reads } = countingContext({ ip: "10.0.0.1", origin: "https://example.com" });
    expect(evaluate(token(), ctx, NOW).ok).toBe(true);
    expect(reads).toEqual({ ip: 0, origin: 0, referer: 0 });
  });

  it("each rule reads what it needs, once: Referer only without an Origin", () => {
    const rules = token({ domains: ["example.com"], ips: ["10.0.0.0/8"] });
    const withOrigin = countingContext({ ip: "10.0.0.1", origin: "https://example.com", referer: "https://example.com/x" });
    expect(evaluate(rules, withOrigin.ctx, NOW).ok).toBe(true);
    expect(withOrigin.reads).toEqual({ ip: 1, origin: 1, referer: 0 });
    const refererOnly = countingContext({ ip: "10.0.0.1", referer: "https://example.com/x" });
    expect(evaluate(rules, refererOnly.ctx, NOW).ok).toBe(true);
    expect(refererOnly.reads).toEqual({ ip: 1, origin: 1, referer: 1 });
  });
});
