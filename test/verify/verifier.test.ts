import { problemDetails } from "../../src/http/problem.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ChangeEvent,
  type Decision,
  generateToken,
  hashToken,
  isKeywardError,
  Keyward,
  type KeywardOptions,
  MemoryStore,
  type TokenStore,
} from "keyward";
import { cpuClock } from "../support/cpu.js";

const T0 = Date.UTC(2026, 0, 1);

function setup(options: Partial<KeywardOptions> = {}, store: TokenStore = new MemoryStore()) {
  const clock = { now: T0 };
  const kw = new Keyward({ store, prefix: "acme", now: () => clock.now, ...options });
  return { kw, store, clock };
}

const req = (token?: string, init: { headers?: Record<string, string>; url?: string } = {}) =>
  new Request(init.url ?? "https://api.example.com/v1/prices", {
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...init.headers },
  });

/** The part of a decision a client sees. */
const seen = (d: Decision) => ({ body: problemDetails(d), status: d.status, headers: d.headers, token: d.token, tokenId: d.tokenId });

describe("verify: bearer tokens", () => {
  it("allows a valid token and identifies it", async () => {
    const { kw } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const d = await kw.verify(req(token), { scope: "core:read" });
    expect(d).toMatchObject({ ok: true, code: "OK", status: 200, tokenId: record.id });
    expect(d.token?.id).toBe(record.id);
    expect(JSON.stringify(d)).not.toContain(token);
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    // Scheme is case-insensitive (RFC 9110 §11.1).
    expect((await kw.verify(new Request("https://x.test", { headers: { authorization: `bEaReR ${token}` } }))).ok).toBe(true);
  });

  it("gives every decision headers of its own: changing one decision's changes no other", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const first = await kw.verify(req(token), { scope: "core:read" });
    expect(first.headers).toEqual({});
    first.headers["x-added"] = "1";
    const second = await kw.check({ token, scope: "core:read" });
    expect(second.headers).toEqual({});
    expect(Object.isFrozen(second.headers)).toBe(false);
    expect(first.headers).toEqual({ "x-added": "1" });
  });

  it("answers every credential failure identically; the code stays for logs", async () => {
    const { kw, clock } = setup();
    const live = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 1000 });
    const revoked = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.tokens.revoke(revoked.record.id);
    const unknown = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const typo = `${live.token.slice(0, -1)}${live.token.endsWith("a") ? "b" : "a"}`;
    clock.now = T0 + 2000;
    // RFC 6750 §3.1: no credential sent, a challenge without an error code.
    const missing = await kw.verify(req(undefined));
    expect(missing).toMatchObject({ code: "TOKEN_MISSING", status: 401, headers: { "www-authenticate": 'Bearer realm="api"' } });
    const cases: [string | undefined, string][] = [
      ["not-a-token", "TOKEN_MALFORMED"],
      [typo, "TOKEN_MALFORMED"],
      [unknown, "TOKEN_UNKNOWN"],
      [revoked.token, "TOKEN_REVOKED"],
      [live.token, "TOKEN_EXPIRED"],
    ];
    const decisions = [];
    for (const [token, code] of cases) {
      const d = await kw.verify(req(token));
      expect(d.code, code).toBe(code);
      decisions.push(seen(d));
    }
    // Wrong environment: a test token presented to a live instance sharing the store.
    const shared = new MemoryStore();
    const a = setup({ env: "test" }, shared);
    const b = setup({ env: "live" }, shared);
    const t = await a.kw.tokens.create({ owner: "o", kind: "secret" });
    const wrongEnv = await b.kw.verify(req(t.token));
    expect(wrongEnv.code).toBe("TOKEN_WRONG_ENV");
    decisions.push(seen(wrongEnv));
    for (const d of decisions) {
      expect(d).toEqual({
        body: { type: "urn:keyward:problem:invalid-token", title: "Invalid token", status: 401, detail: "The token is not valid for this API." },
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="api", error="invalid_token"' },
        token: null,
        tokenId: null,
      });
    }
  });

  it("refuses ambiguous credentials", async () => {
    const { kw } = setup({ queryParam: "api_key" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const h = new Headers();
    h.append("authorization", `Bearer ${token}`);
    h.append("authorization", `Bearer ${token}`);
    expect((await kw.verify(new Request("https://x.test", { headers: h }))).code).toBe("TOKEN_MALFORMED");
    expect((await kw.verify(req(token, { url: `https://x.test/?api_key=${token}` }))).code).toBe("TOKEN_MALFORMED");
    expect((await kw.verify(req(undefined, { url: `https://x.test/?api_key=${token}&api_key=${token}` }))).code).toBe(
      "TOKEN_MALFORMED",
    );
    expect((await kw.verify(req(undefined, { url: `https://x.test/?api_key=${token}` }))).ok).toBe(true);
    // Another scheme is no bearer credential (RFC 6750 §3.1): never allowed, answered as none sent.
    expect((await kw.verify(new Request("https://x.test", { headers: { authorization: `Basic ${token}` } }))).code).toBe(
      "TOKEN_MISSING",
    );
    expect((await kw.verify(new Request("https://x.test", { headers: { authorization: `Bearer ${token} x` } }))).code).toBe(
      "TOKEN_MALFORMED",
    );
  });

  it("refuses query tokens unless enabled (the token is leaked: TOKEN_IN_URL)", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.verify(req(undefined, { url: `https://x.test/?api_key=${token}` }))).code).toBe("TOKEN_IN_URL");
  });
});

describe("verify: policy", () => {
  it("denies a missing scope with 403 insufficient_scope", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", "datasets/prices:read"] });
    expect((await kw.verify(req(token), { scope: "datasets/prices:read" })).ok).toBe(true);
    const d = await kw.verify(req(token), { scope: "datasets/prices:write" });
    expect(d).toMatchObject({ ok: false, code: "SCOPE_DENIED", status: 403, scope: "datasets/prices:write" });
    expect(d.headers["www-authenticate"]).toContain("insufficient_scope");
    expect((await kw.verify(req(token), { scope: ["core:read", "premium:read"] })).code).toBe("SCOPE_DENIED");
  });

  it("reads a request's headers only when a rule needs them, each at most once", async () => {
    const { kw } = setup({ usage: { enabled: false }, trustedProxies: ["10.0.0.0/8"] });
    const secret = (await kw.tokens.create({ owner: "o", kind: "secret" })).token;
    const pub = (await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["app.example.com"] })).token;
    const reads = async (token: string, extra: Record<string, string>) => {
      const h = new Headers({ authorization: `Bearer ${token}`, "x-forwarded-for": "203.0.113.9", ...extra });
      const counts: Record<string, number> = {};
      const headers = {
        get: (n: string) => {
          counts[n] = (counts[n] ?? 0) + 1;
          return h.get(n);
        },
      };
      const d = await kw.verify({ headers, url: "https://api.example.com/v1/prices", method: "GET", body: null } as unknown as Request, { ip: "10.1.2.3" });
      return [d.code, counts];
    };
    // A secret token without rules: the credential, the signature, the browser
    // signals and (requireHttps, from a trusted proxy) the forwarded scheme; no client address.
    const once = { authorization: 1, "signature-input": 1, origin: 1, "sec-fetch-site": 1, "x-forwarded-proto": 1 };
    expect(await reads(secret, {})).toEqual(["OK", once]);
    const page = { origin: "https://app.example.com", referer: "https://app.example.com/x" };
    expect(await reads(pub, page)).toEqual(["OK", { authorization: 1, "signature-input": 1, origin: 1 }]);
    expect(await reads(pub, { referer: page.referer })).toEqual(["OK", { authorization: 1, "signature-input": 1, origin: 1, referer: 1 }]);
  });

  it("resolves the client address once per request, for the transport and the usage event alike", async () => {
    const { kw } = setup({ trustedProxies: ["10.0.0.0/8"] });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const h = new Headers({ authorization: `Bearer ${token}`, "x-forwarded-for": "203.0.113.9" });
    let xff = 0;
    const headers = {
      get: (n: string) => {
        if (n === "x-forwarded-for") xff++;
        return h.get(n);
      },
    };
    // Plain http from a remote client through the trusted proxy (which ends no TLS).
    const d = await kw.verify({ headers, url: "http://localhost:3000/v1/prices", method: "GET", body: null } as unknown as Request, { ip: "10.1.2.3" });
    expect(d.code).toBe("INSECURE_TRANSPORT");
    expect(xff).toBe(1);
  });

  it("checks allowed domains against Origin, else Referer", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["example.com", "*.example.com"] });
    const at = (headers: Record<string, string>) => kw.verify(req(token, { headers }));
    expect((await at({ origin: "https://www.example.com" })).ok).toBe(true);
    expect((await at({ referer: "https://example.com/page?q=1" })).ok).toBe(true);
    expect((await at({ origin: "https://evil-example.com" })).code).toBe("DOMAIN_DENIED");
    expect((await at({ origin: "https://example.com.evil.com" })).code).toBe("DOMAIN_DENIED");
    expect((await at({ origin: "null" })).code).toBe("DOMAIN_DENIED");
    expect((await at({ referer: "https://example.com@evil.com/" })).code).toBe("DOMAIN_DENIED");
    expect((await at({})).code).toBe("DOMAIN_DENIED");
  });

  it("checks IP allowlists against the socket address, and forwarding headers only from trusted proxies", async () => {
    const direct = setup();
    const { token } = await direct.kw.tokens.create({ owner: "o", kind: "secret", ips: ["203.0.113.0/24", "2001:db8::/32"] });
    const spoof = { headers: { "x-forwarded-for": "203.0.113.9" } };
    expect((await direct.kw.verify(req(token), { ip: "203.0.113.7" })).ok).toBe(true);
    expect((await direct.kw.verify(req(token), { ip: "::ffff:203.0.113.7" })).ok).toBe(true);
    expect((await direct.kw.verify(req(token), { ip: "2001:db8::1" })).ok).toBe(true);
    expect((await direct.kw.verify(req(token, spoof), { ip: "198.51.100.1" })).code).toBe("IP_DENIED");
    expect((await direct.kw.verify(req(token))).code).toBe("IP_DENIED");

    const proxied = setup({ trustedProxies: ["10.0.0.0/8"] }, direct.store);
    const via = (xff: string) => proxied.kw.verify(req(token, { headers: { "x-forwarded-for": xff } }), { ip: "10.0.0.2" });
    expect((await via("203.0.113.9")).ok).toBe(true);
    expect((await via("203.0.113.9, 10.0.0.5")).ok).toBe(true);
    // A client-supplied entry to the left of the real client does not count.
    expect((await via("203.0.113.9, 198.51.100.1")).code).toBe("IP_DENIED");
  });

  it("denies secret tokens from browsers unless allowed", async () => {
    const { kw, store } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const browsers: Record<string, string>[] = [
      { origin: "https://app.test" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
    ];
    for (const headers of browsers) {
      const d = await kw.verify(req(token, { headers }));
      expect(d).toMatchObject({ code: "SECRET_IN_BROWSER", status: 403 });
    }
    // Node's fetch (undici) sends sec-fetch-mode: cors and nothing else of the kind.
    expect((await kw.verify(req(token, { headers: { "sec-fetch-mode": "cors" } }))).ok).toBe(true);
    const lenient = setup({ allowSecretInBrowser: true }, store);
    expect((await lenient.kw.verify(req(token, { headers: { origin: "https://app.test" } }))).ok).toBe(true);
    const pk = await kw.tokens.create({ owner: "o", kind: "publishable" });
    expect((await kw.verify(req(pk.token, { headers: { origin: "https://app.test" } }))).ok).toBe(true);
  });

  it("takes the kind from the stored record, not from the presented prefix", async () => {
    const { kw, store } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    // Import the same secret under a publishable-looking string: the record says secret.
    const lookalike = `acme_pk_${token.slice("acme_sk_".length)}`;
    expect((await kw.verify(req(lookalike, { headers: { origin: "https://a.test" } }))).ok).toBe(false);
    const stored = await store.findByHash(hashToken(token));
    expect(stored?.kind).toBe("secret");
    expect(record.kind).toBe("secret");
  });

  it("applies rate limits with Retry-After", async () => {
    const { kw, clock } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", rateLimit: { limit: 3, windowMs: 1000 } });
    for (let i = 0; i < 3; i++) {
      const d = await kw.verify(req(token));
      expect(d.ok).toBe(true);
      // draft-ietf-httpapi-ratelimit-headers-10: the policy and what is left of it.
      expect(d.headers["ratelimit-policy"]).toBe('"requests";q=3;w=1');
      expect(d.headers.ratelimit).toBe(`"requests";r=${2 - i}`);
    }
    const d = await kw.verify(req(token));
    expect(d).toMatchObject({ ok: false, code: "RATE_LIMITED", status: 429 });
    expect(d.headers.ratelimit).toBe(`"requests";r=0;t=${d.headers["retry-after"]}`);
    expect(Number(d.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(d.retryAfterMs).toBeGreaterThan(0);
    clock.now += 2000;
    expect((await kw.verify(req(token))).ok).toBe(true);
  });

  it("consumes credits atomically and reports what remains", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10 } });
    expect(await kw.check({ token, cost: 4 })).toMatchObject({ ok: true, remaining: 6 });
    expect(await kw.check({ token, cost: 0 })).toMatchObject({ ok: true, remaining: 6 });
    expect(await kw.check({ token, cost: 7 })).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", status: 402, remaining: 6 });
    const results = await Promise.all(Array.from({ length: 20 }, () => kw.check({ token, cost: 1 })));
    expect(results.filter((r) => r.ok)).toHaveLength(6);
    expect(results.at(-1)).toMatchObject({ code: "CREDITS_EXHAUSTED", remaining: 0 });
  });
});

describe("verify: when credits come back (402)", () => {
  it("Retry-After and refillAt are when the balance can hold the cost: the refill that brings enough back, none when only a top-up can", async () => {
    const { kw, clock } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 3, refill: { amount: 1, intervalMs: 10_000 } } });
    expect((await kw.check({ token, cost: 3 })).ok).toBe(true);
    clock.now += 1000;
    // One credit comes back at +10 s, the second at +20 s: a request of 2 fits then, not before.
    const two = await kw.check({ token, cost: 2 });
    expect(two).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", remaining: 0, retryAfterMs: 19_000 });
    expect(two.headers["retry-after"]).toBe("19");
    expect(two.headers.ratelimit).toBe('"credits";r=0;t=19');
    expect((await problemDetails(two)).refillAt).toBe(new Date(clock.now + 19_000).toISOString());
    clock.now += 9_000;
    expect((await kw.check({ token, cost: 2 })).code).toBe("CREDITS_EXHAUSTED");
    clock.now += 10_000;
    expect(await kw.check({ token, cost: 2 })).toMatchObject({ ok: true, remaining: 0 });
    // More than the plan holds: no refill ever brings it (a top-up does), so there is no wait to tell.
    const never = await kw.check({ token, cost: 4 });
    expect(never).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", retryAfterMs: undefined });
    expect(never.headers["retry-after"]).toBeUndefined();
    expect(never.headers.ratelimit).toBe('"credits";r=0');
    expect((await problemDetails(never)).refillAt).toBeUndefined();
    // What is left of the plan is no extra room: with 1 of its 3 credits back, a cost of 4 still never fits.
    clock.now += 10_000;
    const partly = await kw.check({ token, cost: 4 });
    expect(partly).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", remaining: 1, retryAfterMs: undefined });
    expect(partly.headers["retry-after"]).toBeUndefined();
    // Bought credits count: 3 of the plan and 1 bought hold a cost of 4 after two more refills.
    await kw.credits.topUp({ tokenId: record.id }, 1);
    expect((await kw.check({ token, cost: 4 })).retryAfterMs).toBe(20_000);
    clock.now += 20_000;
    expect(await kw.check({ token, cost: 4 })).toMatchObject({ ok: true, remaining: 0 });
  });
});

describe("verify: time", () => {
  it("honours the grace window of a regenerated token", async () => {
    const { kw, clock } = setup();
    const first = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.verify(req(first.token)); // warm the cache
    const second = await kw.tokens.regenerate(first.record.id, { graceMs: 5000 });
    expect((await kw.verify(req(first.token))).ok).toBe(true);
    expect((await kw.verify(req(second.token))).ok).toBe(true);
    clock.now += 5000;
    expect((await kw.verify(req(first.token))).code).toBe("TOKEN_UNKNOWN");
    expect((await kw.verify(req(second.token))).ok).toBe(true);
    const third = await kw.tokens.regenerate(first.record.id);
    expect((await kw.verify(req(second.token))).code).toBe("TOKEN_UNKNOWN");
    expect((await kw.verify(req(third.token))).ok).toBe(true);
  });

  it("switches to an effective-dated revision at its instant, even from the cache", async () => {
    const { kw, clock } = setup({ propagationDelayMs: 30_000 });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    expect((await kw.verify(req(token), { scope: "core:read" })).ok).toBe(true);
    await kw.tokens.update(record.id, { scopes: ["premium:read"] });
    clock.now += 29_999;
    expect((await kw.verify(req(token), { scope: "core:read" })).ok).toBe(true);
    expect((await kw.verify(req(token), { scope: "premium:read" })).code).toBe("SCOPE_DENIED");
    clock.now += 1;
    expect((await kw.verify(req(token), { scope: "core:read" })).code).toBe("SCOPE_DENIED");
    expect((await kw.verify(req(token), { scope: "premium:read" })).ok).toBe(true);
  });

  it("expires tokens at expiresAt", async () => {
    const { kw, clock } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 60_000 });
    clock.now = T0 + 59_999;
    expect((await kw.verify(req(token))).ok).toBe(true);
    clock.now = T0 + 60_000;
    expect((await kw.verify(req(token))).code).toBe("TOKEN_EXPIRED");
  });
});

describe("verify: cache and revocation bound", () => {
  for (const changeFeed of [false, true]) {
    it(`a revoked token is denied at once here and within revocationBoundMs elsewhere (change feed: ${changeFeed})`, async () => {
      const store = new MemoryStore({ changeFeed });
      const clock = { now: T0 };
      const opts = { store, prefix: "acme", now: () => clock.now, revocationBoundMs: 10_000 };
      const a = new Keyward(opts);
      const b = new Keyward(opts);
      const { token, record } = await a.tokens.create({ owner: "o", kind: "secret" });
      expect((await a.verify(req(token))).ok).toBe(true);
      expect((await b.verify(req(token))).ok).toBe(true); // b caches it now, at T0
      clock.now += 3_000;
      await a.tokens.revoke(record.id);
      await Promise.resolve();
      expect((await a.verify(req(token))).code).toBe("TOKEN_REVOKED");
      const atOnce = await b.verify(req(token));
      if (changeFeed) expect(atOnce.code).toBe("TOKEN_REVOKED");
      // Without a change feed b may serve its cached entry, but never past the bound.
      clock.now = T0 + 9_999;
      const late = await b.verify(req(token));
      if (changeFeed) expect(late.ok).toBe(false);
      clock.now = T0 + 10_000;
      expect((await b.verify(req(token))).code).toBe("TOKEN_REVOKED");
      await a.close();
      await b.close();
    });
  }

  for (const changeFeed of [false, true]) {
    it(`an account change through one instance applies at once there, and elsewhere at once with a change feed (${changeFeed})`, async () => {
      const store = new MemoryStore({ changeFeed });
      const clock = { now: T0 };
      const opts = { store, prefix: "acme", now: () => clock.now, revocationBoundMs: 10_000 };
      const a = new Keyward(opts);
      const b = new Keyward(opts);
      await a.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
      const { token } = await a.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
      expect((await b.check({ token, scope: "premium:read" })).ok).toBe(true); // b caches the account now
      clock.now += 1;
      await a.accounts.set("acct_1", { ceiling: ["core:read"] });
      expect((await a.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
      // Without a change feed b may serve its cached account, but never past the bound.
      expect((await b.check({ token, scope: "premium:read" })).code).toBe(changeFeed ? "SCOPE_DENIED" : "OK");
      clock.now = T0 + 10_000;
      expect((await b.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
      await a.close();
      await b.close();
    });
  }

  it("a reset from the store's feed (it may have missed changes) drops every cached token and account; so does a kind it does not know, and a malformed event", async () => {
    /** A MemoryStore whose feed can be cut (its events are lost, as over a dropped connection) and can announce a reset. */
    class CutFeed extends MemoryStore {
      cut = false;
      readonly #listeners = new Set<(e: ChangeEvent) => void>();
      constructor() {
        super();
        const subscribe = this.subscribe!;
        (this as { subscribe?: TokenStore["subscribe"] }).subscribe = (listener) => {
          this.#listeners.add(listener);
          const off = subscribe((e) => {
            if (!this.cut) listener(e);
          });
          return () => {
            this.#listeners.delete(listener);
            off();
          };
        };
      }
      announce(e: unknown): void {
        for (const l of this.#listeners) l(e as ChangeEvent);
      }
    }
    const store = new CutFeed();
    const clock = { now: T0 };
    const opts = { store, prefix: "acme", now: () => clock.now, revocationBoundMs: 10_000 };
    const reader = new Keyward(opts);
    const writer = new Keyward(opts);
    await writer.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
    // A reset, a kind this version does not know, and events an adapter's bug makes: no hashes, no token id, none at all.
    const events = [{ kind: "reset", tokenId: "", hashes: [] }, { kind: "some-later-kind", tokenId: "", hashes: [] }, { kind: "token", tokenId: "tok_x" }, { tokenId: 5, hashes: [] }, null];
    for (const event of events) {
      const revoked = await writer.tokens.create({ owner: "acct_2", kind: "secret" });
      const { token } = await writer.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
      expect((await reader.check({ token: revoked.token })).ok).toBe(true);
      expect((await reader.check({ token, scope: "premium:read" })).ok).toBe(true);
      store.cut = true;
      await writer.tokens.revoke(revoked.record.id);
      await writer.accounts.set("acct_1", { ceiling: ["core:read"] });
      // Not heard: the reader serves what it cached.
      expect((await reader.check({ token: revoked.token })).ok).toBe(true);
      expect((await reader.check({ token, scope: "premium:read" })).ok).toBe(true);
      store.cut = false;
      expect(() => store.announce(event)).not.toThrow();
      expect((await reader.check({ token: revoked.token })).code).toBe("TOKEN_REVOKED");
      expect((await reader.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
      await writer.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
    }
    await reader.close();
    await writer.close();
  });

  it("serves warm lookups from the cache", async () => {
    const store = new CountingStore();
    const { kw } = setup({}, store);
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await Promise.all(Array.from({ length: 10 }, () => kw.verify(req(token))));
    for (let i = 0; i < 10; i++) await kw.verify(req(token));
    expect(store.lookups).toBe(1);
    // Negative entries too.
    const unknown = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    for (let i = 0; i < 5; i++) expect((await kw.verify(req(unknown))).code).toBe("TOKEN_UNKNOWN");
    expect(store.lookups).toBe(2);
  });

  it("fails closed on store errors and never caches them as a denial", async () => {
    const store = new CountingStore();
    const { kw, clock } = setup({ revocationBoundMs: 1000 }, store);
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5 } });
    store.failing = true;
    const d = await kw.verify(req(token));
    expect(d).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503, tokenId: null });
    // The wait is one: the header, the decision and the problem body say it alike.
    expect(d.headers["retry-after"]).toBe("1");
    expect(d.retryAfterMs).toBe(1000);
    expect(problemDetails(d)).toMatchObject({ code: "STORE_UNAVAILABLE", retryAfter: 1 });
    store.failing = false;
    expect((await kw.verify(req(token))).ok).toBe(true);
    // Cached lookup, failing credit store: still denied, credit not lost.
    store.failing = true;
    const metering = await kw.verify(req(token));
    expect(metering).toMatchObject({ code: "STORE_UNAVAILABLE", retryAfterMs: 1000 });
    expect(problemDetails(metering).retryAfter).toBe(1);
    store.failing = false;
    clock.now += 1;
    expect(await kw.check({ token, cost: 0 })).toMatchObject({ ok: true, remaining: 4 });
  });
});

describe("usage", () => {
  it("meters allowed and denied requests per token", async () => {
    const { kw } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 2 } });
    for (let i = 0; i < 3; i++) await kw.check({ token, cost: 1 });
    await kw.check({ token, scope: "premium:read" });
    await kw.flush();
    const buckets = await kw.usage.get(record.id, { from: T0 - 3_600_000, to: T0 + 3_600_000 });
    expect(buckets).toEqual([{ start: T0, allowed: 2, denied: 2, credits: 2 }]);
  });
});

describe("verify: untrusted input (fuzz)", () => {
  it("never throws and never allows garbage", async () => {
    const { kw } = setup({ trustedProxies: ["10.0.0.0/8"], queryParam: "key" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["example.com"], ips: ["10.0.0.0/8"] });
    const header = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.constant(token),
      fc.constant(`${token}x`),
    );
    const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "").slice(0, 300);
    await fc.assert(
      fc.asyncProperty(
        header,
        header,
        header,
        header,
        fc.oneof(fc.string({ maxLength: 60 }), fc.ipV4(), fc.ipV6(), fc.constant(undefined)),
        async (auth, origin, xff, query, ip) => {
          const headers = new Headers();
          headers.set("authorization", printable(`Bearer ${auth}`));
          headers.set("origin", printable(origin));
          headers.set("x-forwarded-for", printable(xff));
          const url = `https://api.test/?key=${encodeURIComponent(query)}`;
          const d = await kw.verify(new Request(url, { headers }), { ip: ip as string | undefined, scope: "core:read" });
          expect(d.ok).toBe(false);
          expect([401, 403, 429]).toContain(d.status);
        },
      ),
      { numRuns: 2000 },
    );
    await fc.assert(
      fc.asyncProperty(fc.anything(), fc.anything(), fc.anything(), async (t, origin, ip) => {
        const d = await kw.check({ token: t, origin: origin as string, ip: ip as string });
        expect(d.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
    // 3 000 verifications: about 7 s alone, 22 s once on a machine loaded by other work (over the 20 s default).
  }, 60_000);

  it("answers oversized headers fast", async () => {
    const { kw } = setup();
    const huge = "a".repeat(1_000_000);
    const request = req(huge, { headers: { origin: huge, referer: huge, "x-forwarded-for": huge } });
    const cpu = cpuClock();
    const d = await kw.verify(request, { ip: huge });
    expect(d.code).toBe("TOKEN_MALFORMED");
    expect(cpu()).toBeLessThan(200);
  });
});

/** A real MemoryStore that counts lookups and can be made to fail, like a lost database connection. */
class CountingStore extends MemoryStore {
  lookups = 0;
  failing = false;
  #guard() {
    if (this.failing) throw new Error("connection refused");
  }
  override async findByHash(hash: string) {
    this.#guard();
    this.lookups++;
    return super.findByHash(hash);
  }
  override async meter(...args: Parameters<MemoryStore["meter"]>) {
    this.#guard();
    return super.meter(...args);
  }
}

describe("imported keys", () => {
  it("accepts a key imported by its hash only when foreign tokens are enabled", async () => {
    const store = new MemoryStore();
    const legacy = "legacy-7f3a9c1e5b2d8f4a6c0e";
    const strict = new Keyward({ store, prefix: "acme" });
    await strict.tokens.import({ hash: hashToken(legacy), owner: "o", kind: "secret", scopes: ["core:read"] });
    expect((await strict.check({ token: legacy })).code).toBe("TOKEN_MALFORMED");
    const migrating = new Keyward({ store, prefix: "acme", acceptForeignTokens: { prefix: "legacy-", minLength: 20 } });
    expect((await migrating.check({ token: legacy, scope: "core:read" })).ok).toBe(true);
    expect((await migrating.check({ token: `${legacy}x` })).code).toBe("TOKEN_UNKNOWN");
    expect((await migrating.check({ token: "x".repeat(513) })).code).toBe("TOKEN_MALFORMED");
  });
});

describe("route options given to check", () => {
  it("a scope list with a non-string entry is the application's mistake: a coded rejection", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.check({ token }); // warm the cache: the check must still reject, not throw synchronously
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = kw.check({ token, scope: [Object.create(null)] });
    }).not.toThrow();
    const err = await promise!.catch((e: unknown) => e);
    expect(isKeywardError(err, "INVALID_INPUT")).toBe(true);
  });
});

describe("route options of another name", () => {
  it("a misspelt option of kw.verify or kw.check is refused, never an allow without the check it asked for", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    // Options built at run time (a route table, JavaScript): no excess-property check at compile time.
    const route: Record<string, unknown> = { scopes: "admin:write" };
    const verified = await kw.verify(req(token), route).catch((e: unknown) => e);
    expect(isKeywardError(verified, "INVALID_INPUT")).toBe(true);
    expect(verified).toMatchObject({ field: "options", message: expect.stringContaining('"scopes"') });
    const checked = await kw.check({ token, ...route }).catch((e: unknown) => e);
    expect(isKeywardError(checked, "INVALID_INPUT")).toBe(true);
    expect(checked).toMatchObject({ field: "options", message: expect.stringContaining('"scopes"') });
    // Each takes its own fields, and only those.
    expect((await kw.verify(req(token), { scope: "core:read", cost: 0, pool: "default", ip: "10.0.0.1", body: undefined, receivedUrl: "https://api.example.com/v1/prices" })).code).toBe("OK");
    const input = { token, scope: "core:read", ip: null, origin: null, referer: null, secFetchSite: null, secFetchMode: null, protocol: "https" } as const;
    expect((await kw.check(input)).code).toBe("OK");
    expect(isKeywardError(await kw.check({ ...input, receivedUrl: "https://x" } as never).catch((e: unknown) => e), "INVALID_INPUT")).toBe(true);
    expect(isKeywardError(await kw.verify(req(token), { token } as never).catch((e: unknown) => e), "INVALID_INPUT")).toBe(true);
  });

  it("frozen options of the application are checked on every call (only a middleware route's are checked once, at setup)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const misspelt = Object.freeze({ scopes: "admin:write" }) as never;
    const badCost = Object.freeze({ scope: "core:read", cost: -1 });
    for (let i = 0; i < 2; i++) {
      expect(await kw.verify(req(token), misspelt).catch((e: unknown) => e)).toMatchObject({ code: "INVALID_INPUT", field: "options" });
      expect(await kw.verify(req(token), badCost).catch((e: unknown) => e)).toMatchObject({ code: "INVALID_INPUT", field: "cost" });
    }
  });
});
