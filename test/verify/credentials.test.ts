// Which presented strings reach the store at all: this application's own
// prefix (or those it names), legacy keys of a configured shape, and never a
// token that travelled in the URL.
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { crc } from "../support/crc-steps.js";
import { generateToken, hashToken, Keyward, type KeywardOptions, MemoryStore, type StoredToken } from "keyward";
import { findCredential, MAX_AUTHORIZATION_LENGTH } from "../../src/verify/credential.js";
import { cpuClock } from "../support/cpu.js";

// The real CRC-32, counting its steps (test/support/crc-steps.ts).
vi.mock("../../src/lib/crc32.js", async (real) => (await import("../support/crc-steps.js")).countingCrc32(await real()));

/** A real MemoryStore that counts lookups by hash; while `gate` is set, they wait for it, like a slow database. */
class CountingStore extends MemoryStore {
  lookups = 0;
  gate: Promise<void> | null = null;
  override async findByHash(hash: string): Promise<StoredToken | null> {
    this.lookups++;
    if (this.gate) await this.gate;
    return super.findByHash(hash);
  }
}

function app(prefix: string, store: MemoryStore, options: Partial<KeywardOptions> = {}) {
  return new Keyward({ store, prefix, ...options });
}

describe("prefixes", () => {
  it("accepts only its own prefix from a store shared with another application", async () => {
    const store = new CountingStore();
    const acme = app("acme", store);
    const other = app("other", store);
    const { token } = await other.tokens.create({ owner: "o", kind: "secret" });
    expect((await other.check({ token })).ok).toBe(true);
    const before = store.lookups;
    expect((await acme.check({ token })).code).toBe("TOKEN_MALFORMED");
    expect(store.lookups).toBe(before); // refused without a store access
  });

  it("accepts other prefixes named explicitly with acceptPrefixes", async () => {
    const store = new MemoryStore();
    const { token } = await app("old", store).tokens.create({ owner: "o", kind: "secret" });
    expect((await app("acme", store, { acceptPrefixes: ["old"] }).check({ token })).ok).toBe(true);
  });

  it("refuses another application's token on the signed path (keyid of a record with another prefix)", async () => {
    const ed = await import("@noble/ed25519");
    const { signRequest } = await import("keyward/signing");
    const store = new MemoryStore();
    const privateKey = ed.utils.randomSecretKey();
    const publicKey = await ed.getPublicKeyAsync(privateKey);
    const { record } = await app("other", store).tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } });
    const sign = (nonce: string) =>
      signRequest(new Request("https://api.test/x"), {
        keyid: record.id,
        created: Math.floor(Date.now() / 1000),
        nonce,
        components: ["@method", "@target-uri"],
        key: { alg: "ed25519", privateKey },
      });
    expect((await app("other", store).verify(await sign("n1"))).ok).toBe(true);
    expect((await app("acme", store).verify(await sign("n2"))).code).toBe("TOKEN_UNKNOWN");
  });
});

describe("foreign tokens", () => {
  it("must be given a shape; a bare true is refused at configuration", () => {
    expect(() => app("acme", new MemoryStore(), { acceptForeignTokens: true as never })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => app("acme", new MemoryStore(), { acceptForeignTokens: { prefix: "k", minLength: 4 } })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });

  it("looks up only strings of the configured shape: a short guess never reaches the store", async () => {
    const store = new CountingStore();
    const kw = app("acme", store, { acceptForeignTokens: { prefix: "sk_", minLength: 32 } });
    await kw.tokens.import({ hash: hashToken("1234"), owner: "o", kind: "secret" });
    const legacy = `sk_${"a1".repeat(16)}`;
    await kw.tokens.import({ hash: hashToken(legacy), owner: "o", kind: "secret" });
    const before = store.lookups;
    expect((await kw.check({ token: "1234" })).code).toBe("TOKEN_MALFORMED");
    expect((await kw.check({ token: `pk_${"a1".repeat(16)}` })).code).toBe("TOKEN_MALFORMED");
    expect((await kw.check({ token: "sk_short" })).code).toBe("TOKEN_MALFORMED");
    expect(store.lookups).toBe(before);
    expect((await kw.check({ token: legacy })).ok).toBe(true);
  });
});

describe("a token in the URL", () => {
  it("is refused with TOKEN_IN_URL even with a valid Authorization header, and reported once as leaked", async () => {
    const store = new MemoryStore();
    const kw = app("acme", store);
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const request = () =>
      new Request(`https://api.test/v1/prices?symbol=X&key=${token}`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 5; i++) {
      const d = await kw.verify(request());
      expect(d).toMatchObject({ ok: false, code: "TOKEN_IN_URL", status: 400 });
    }
    await kw.flush();
    const audit = await kw.tokens.audit({ tokenId: record.id });
    expect(audit.items.filter((e) => e.action === "leak")).toEqual([
      expect.objectContaining({ action: "leak", tokenId: record.id, changes: ["url"] }),
    ]);
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it("is found percent-encoded too, in part or whole (as a query parameter is read when query tokens are on)", async () => {
    const kw = app("acme", new MemoryStore());
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
    const forms = [token.replaceAll("_", "%5F"), token.replaceAll("_", "%5f"), [...token].map(hex).join(""), `${token.slice(0, 20)}${[...token.slice(20)].map(hex).join("")}`];
    for (const form of forms) {
      const d = await kw.verify(new Request(`https://api.test/v1/${form}?a=%20b`, { headers: { authorization: `Bearer ${token}` } }));
      expect(d.ok ? "OK" : d.code, form).toBe("TOKEN_IN_URL");
    }
    await kw.flush();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak")).toHaveLength(1);
    // Escapes that make no token, and invalid ones, change nothing.
    const plain = await kw.verify(new Request("https://api.test/v1/acme%5Fsk%5Flive%5Fx?q=%ZZ%5", { headers: { authorization: `Bearer ${token}` } }));
    expect(plain.ok).toBe(true);
  });

  it("is reported once however many unknown well-formed tokens come in URLs between two leaks", async () => {
    const kw = app("acme", new MemoryStore());
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const leaks = async () => (await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak").length;
    const leak = () => kw.verify(new Request(`https://api.test/x?t=${token}`));
    expect((await leak()).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect(await leaks()).toBe(1);
    // More unknown hashes than the instance remembers as looked up (1 024), one looked up per request, then the live token again.
    for (let i = 0; i < 1100; i++) {
      const fake = generateToken({ prefix: "acme", kind: "secret", env: "live" });
      expect((await kw.verify(new Request(`https://api.test/x?t=${fake}`))).code).toBe("TOKEN_IN_URL");
    }
    expect((await leak()).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect(await leaks()).toBe(1);
  });

  it("costs the store one lookup per request at most, however many tokens the URL carries, and none past the in-flight bound", async () => {
    const store = new CountingStore();
    const kw = app("acme", store);
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const forged = (n: number) =>
      Array.from({ length: n }, (_, j) => `t${j}=${generateToken({ prefix: "acme", kind: "secret", env: "live" })}`).join("&");
    // One after another, four checksum-valid forgeries each: at most as many lookups as forged bearer tokens cost.
    for (let i = 0; i < 250; i++) expect((await kw.verify(new Request(`https://api.test/x?${forged(4)}`))).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect(store.lookups).toBeGreaterThan(0);
    expect(store.lookups).toBeLessThanOrEqual(250);
    // A flood faster than the store answers: the lookups in flight stay bounded (4), the rest are not started.
    store.lookups = 0;
    let release!: () => void;
    store.gate = new Promise((resolve) => (release = resolve));
    const flood = Array.from({ length: 1000 }, () => kw.verify(new Request(`https://api.test/x?${forged(4)}`)));
    expect((await Promise.all(flood)).every((d) => d.code === "TOKEN_IN_URL")).toBe(true);
    expect(store.lookups).toBe(4);
    release();
    store.gate = null;
    await kw.flush();
    expect(store.lookups).toBe(4);
    // A live token passed over during the flood is reported when it is seen again.
    expect((await kw.verify(new Request(`https://api.test/x?k=${token}`))).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak")).toHaveLength(1);
  });

  it("in the path too; tokens of other applications and look-alikes are not ours to refuse", async () => {
    const kw = app("acme", new MemoryStore());
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.verify(new Request(`https://api.test/keys/${token}`, { headers: { authorization: `Bearer ${token}` } }))).code).toBe(
      "TOKEN_IN_URL",
    );
    const other = await app("other", new MemoryStore()).tokens.create({ owner: "o", kind: "secret" });
    const lookAlike = `${token.slice(0, -1)}${token.endsWith("a") ? "b" : "a"}`; // checksum fails
    for (const url of [`https://api.test/x?k=${other.token}`, `https://api.test/x?k=${lookAlike}`]) {
      expect((await kw.verify(new Request(url, { headers: { authorization: `Bearer ${token}` } }))).ok).toBe(true);
    }
  });

  it("is looked for by this application's prefixes: a URL crafted with token-shaped strings costs no checksum unless they carry one", async () => {
    const kw = app("acme", new MemoryStore());
    // Token middles glued together (each after a run a prefix could start in), with 32-bit checksums.
    const crafted = `_sk_test_${"a".repeat(43)}000000`.repeat(256);
    const cost = async (path: string) => {
      crc.steps = 0;
      expect((await kw.verify(new Request(`https://api.test${path}`))).code).toBe("TOKEN_MISSING");
      return crc.steps;
    };
    // The marker (`acme_`) is there, but no candidate ends in `acme`.
    expect(await cost(`/acme_/${crafted}`)).toBe(0);
    // Every candidate after `acme`: one checksum each, about one CRC-32 step per character of the URL.
    const anchored = `acme_sk_test_${"a".repeat(43)}000000`.repeat(256);
    const steps = await cost(`/${anchored}`);
    expect(steps).toBeGreaterThan(anchored.length / 2);
    expect(steps).toBeLessThanOrEqual(anchored.length);
  });

  it("writes nothing for a revoked or unknown token found in the URL", async () => {
    const store = new MemoryStore();
    const kw = app("acme", store);
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.tokens.revoke(record.id);
    expect((await kw.verify(new Request(`https://api.test/x?k=${token}`))).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "revoke"]);
  });

  it("reports an old secret still in its grace period after regenerate: it is live", async () => {
    const kw = app("acme", new MemoryStore());
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.tokens.regenerate(record.id, { graceMs: 3_600_000 });
    expect((await kw.check({ token })).ok).toBe(true);
    expect((await kw.verify(new Request(`https://api.test/x?k=${token}`))).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak")).toEqual([
      expect.objectContaining({ actor: "keyward:verifier", changes: ["url"] }),
    ]);
  });

  it("looks a token up again the next time it is seen when its lookup, or its entry's write, failed (a store outage)", async () => {
    class Outage extends MemoryStore {
      down: "reads" | "writes" | null = null;
      override async findByHash(hash: string): Promise<StoredToken | null> {
        if (this.down === "reads") throw new Error("store down");
        return super.findByHash(hash);
      }
      override async appendAudit(entry: Parameters<MemoryStore["appendAudit"]>[0]): Promise<void> {
        if (this.down === "writes") throw new Error("store down");
        return super.appendAudit(entry);
      }
    }
    for (const down of ["reads", "writes"] as const) {
      const store = new Outage();
      const kw = app("acme", store, { cache: { maxEntries: 0 } });
      const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
      const seen = async () => {
        expect((await kw.verify(new Request(`https://api.test/x?k=${token}`))).code).toBe("TOKEN_IN_URL");
        await kw.flush();
      };
      store.down = down;
      await seen();
      store.down = null;
      await seen();
      await seen();
      expect([down, (await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak").length]).toEqual([down, 1]);
    }
  });

  it("is the query credential itself when query tokens are enabled", async () => {
    const kw = app("acme", new MemoryStore(), { queryParam: "api_key" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "publishable" });
    expect((await kw.verify(new Request(`https://api.test/x?api_key=${token}`))).ok).toBe(true);
  });

  it("with query tokens enabled, the parameter is read as URLSearchParams reads it: once, escaped, repeated, among other pairs (property)", async () => {
    const kw = app("acme", new MemoryStore(), { queryParam: "api_key" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "publishable" });
    // The parameter's name and the token, plain or percent-encoded, and other pairs (invalid bytes too).
    const pair = fc.constantFrom(
      `api_key=${token}`,
      `api%5Fkey=${token}`,
      `api_key=${encodeURIComponent(token).replace(/_/g, "%5F")}`,
      "api_key=",
      "api_key",
      "api_keys=x",
      "a=1",
      "%FF=%FE",
      "",
      "api+key=x",
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pair, { maxLength: 5 }), async (pairs) => {
        const url = `https://api.test/x?${pairs.join("&")}`;
        const values = new URL(url).searchParams.getAll("api_key");
        const expected = values.length === 0 ? "TOKEN_MISSING" : values.length > 1 ? "TOKEN_MALFORMED" : values[0] === token ? "OK" : "TOKEN_MALFORMED";
        const d = await kw.verify(new Request(url));
        expect(d.ok ? "OK" : d.code, url).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("with query tokens enabled, a long query of invalid percent-encoded bytes is read in one pass", async () => {
    // URLSearchParams decoded every pair: a 15 KB query of them cost 20 ms per request, before any credential.
    // One pass is about a hundred times less; the bound leaves a wide margin for a slow host.
    const kw = app("acme", new MemoryStore(), { queryParam: "api_key" });
    const request = new Request(`https://api.test/x?${"%FF%FE=%FF&".repeat(1400)}`);
    expect(request.url.length).toBeGreaterThan(15_000);
    await kw.verify(request); // warm
    const cpu = cpuClock();
    for (let i = 0; i < 10; i++) expect(await kw.verify(request)).toMatchObject({ ok: false, code: "TOKEN_MISSING" });
    expect(cpu()).toBeLessThan(100);
  });

  it("with query tokens off, a long URL of percent-encoded characters is decoded in one pass to look for tokens", async () => {
    // A replace with a callback per escape cost about 2.5 ms for such a URL; one pass, about a tenth of that.
    const kw = app("acme", new MemoryStore());
    const request = new Request(`https://api.test/x?q=${"%61%63%6d%65%5f".repeat(1100)}`);
    expect(request.url.length).toBeGreaterThan(16_000);
    await kw.verify(request); // warm
    const cpu = cpuClock();
    for (let i = 0; i < 10; i++) expect(await kw.verify(request)).toMatchObject({ ok: false, code: "TOKEN_MISSING" });
    expect(cpu()).toBeLessThan(100);
  });
});

describe("route scopes", () => {
  it("an empty list, an empty string or a malformed scope throws INVALID_INPUT instead of allowing", async () => {
    const kw = app("acme", new MemoryStore());
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    for (const scope of [[], "", "core", "core:read:x", ["core:read", ""], [1]] as never[]) {
      await expect(kw.check({ token, scope })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "scope" });
      await expect(kw.verify(new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } }), { scope })).rejects.toMatchObject({
        code: "INVALID_INPUT",
      });
    }
    expect((await kw.check({ token, scope: ["core:read"] })).ok).toBe(true);
    expect((await kw.check({ token })).ok).toBe(true); // no scope: no scope check
  });

  it("anyOf needs one, allOf (and a plain array) every one; malformed shapes throw", async () => {
    const kw = app("acme", new MemoryStore());
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", "datasets/*:read"] });
    expect((await kw.check({ token, scope: { anyOf: ["premium:read", "datasets/prices/2024:read"] } })).ok).toBe(true);
    const any = await kw.check({ token, scope: { anyOf: ["premium:read", "orders:write"] } });
    expect([any.code, any.scope]).toEqual(["SCOPE_DENIED", "premium:read"]);
    const all = await kw.check({ token, scope: { allOf: ["core:read", "premium:read"] } });
    expect([all.code, all.scope]).toEqual(["SCOPE_DENIED", "premium:read"]);
    expect((await kw.check({ token, scope: { allOf: ["core:read", "datasets/x:read"] } })).ok).toBe(true);
    for (const scope of [{ anyOf: [] }, { allOf: [] }, { anyOf: ["core"] }, { anyOf: "core:read" }, { oneOf: ["core:read"] }, { anyOf: ["core:read"], allOf: ["core:read"] }, null, 5] as never[]) {
      await expect(kw.check({ token, scope })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "scope" });
    }
  });

  it("*:* grants every scope at every depth", async () => {
    const kw = app("acme", new MemoryStore());
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["*:*"] });
    for (const scope of ["core:read", "datasets/prices:write", "a/b/c/d:delete"]) expect((await kw.check({ token, scope })).ok).toBe(true);
  });
});

describe("publishable tokens", () => {
  it("pass no write or delete check on an instance that forbids publishable writes, whatever they hold", async () => {
    const store = new MemoryStore();
    const lenient = app("acme", store, { allowPublishableWrites: true });
    const { token } = await lenient.tokens.create({ owner: "o", kind: "publishable", scopes: ["datasets/prices:write", "core:read"] });
    expect((await lenient.check({ token, scope: "datasets/prices:write" })).ok).toBe(true);
    const strict = app("acme", store);
    expect((await strict.check({ token, scope: "datasets/prices:write" })).code).toBe("SCOPE_DENIED");
    expect((await strict.check({ token, scope: "core:read" })).ok).toBe(true);
  });
});

describe("leaks raise an anomaly", () => {
  it("a live token in a URL, and one reported by a scanner, each raise a `leaked` alert", async () => {
    const seen: unknown[] = [];
    const kw = app("acme", new MemoryStore(), { anomalies: { onAnomaly: (a) => seen.push(a) } });
    const inUrl = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.verify(new Request(`https://api.test/x?k=${inUrl.token}`))).code).toBe("TOKEN_IN_URL");
    await kw.flush();
    const scanned = await kw.tokens.create({ owner: "o", kind: "publishable" });
    expect((await kw.tokens.reportLeak(scanned.token, { source: "github" })).outcome).toBe("revoked");
    expect(kw.anomalies.list({ kind: "leaked" })).toEqual([
      expect.objectContaining({ kind: "leaked", tokenId: inUrl.record.id, owner: "o", detail: { source: "url" } }),
      expect.objectContaining({ kind: "leaked", tokenId: scanned.record.id, owner: "o", detail: { source: "github" } }),
    ]);
    expect(seen).toHaveLength(2);
    expect(JSON.stringify(seen)).not.toContain(inUrl.token);
  });
});

describe("the Authorization header", () => {
  // The oracle: the hand-written scan the parser used before (RFC 6750 §2.1
  // with a case-insensitive scheme, RFC 9110 §11.1), written another way.
  const reference = (value: string): string | null => {
    if (value.length > MAX_AUTHORIZATION_LENGTH) return null;
    if (value.length < 8 || value.slice(0, 6).toLowerCase() !== "bearer") return null;
    let i = 6;
    while (i < value.length && value.charCodeAt(i) === 32) i++;
    if (i === 6) return null;
    const start = i;
    while (i < value.length) {
      const c = value.charCodeAt(i);
      if (c <= 32 || c === 44 /* , */ || c >= 127) break;
      i++;
    }
    const end = i;
    while (i < value.length && value.charCodeAt(i) === 32) i++;
    return end > start && i === value.length ? value.slice(start, end) : null;
  };
  // Not a readable Bearer value: a Bearer scheme in it (alone or among
  // values joined with ","), or else no bearer credential at all.
  const hasBearerScheme = (value: string) =>
    value.split(",").some((part) => part.replace(/^[ \t]+/, "").split(/[ \t]/)[0]!.toLowerCase() === "bearer");
  const decide = (value: string) => findCredential(value, undefined);

  it("reads exactly the values the grammar allows (property)", () => {
    const scheme = fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR", "Bearer", "Bear", "Basic", "Bearer,", "Bearerx", "bearer\u0130", "\u0100earer");
    const part = fc.string({ unit: fc.constantFrom(" ", ",", "\t", "a", "Z", "0", "-", ".", "~", "+", "/", "=", "\u00e9", "\x7f", "\x00"), maxLength: 40 });
    fc.assert(
      fc.property(scheme, part, (s, rest) => {
        const value = s + rest;
        const expected = reference(value);
        const got = decide(value);
        const none = { kind: hasBearerScheme(value) ? "ambiguous" : "none" };
        expect(got).toEqual(expected === null ? none : { kind: "token", token: expected });
      }),
      { numRuns: 3000 },
    );
  });

  it("takes the scheme in any case and refuses look-alikes", () => {
    expect(decide("bEaReR abc")).toEqual({ kind: "token", token: "abc" });
    // U+0130 lowers to "i̇" and U+212A (Kelvin) to "k": neither makes the Bearer scheme.
    expect(decide("Bearer\u0130 abc").kind).toBe("none");
    expect(decide("\u0062earer\u00a0abc").kind).toBe("none");
    expect(decide("Bearer abc, Bearer def").kind).toBe("ambiguous");
  });

  it("reads another scheme's credential, or an empty value, as no bearer credential (RFC 6750 §3.1), unless a query token comes too", () => {
    for (const value of ["", "  ", "Basic dXNlcjpwYXNz", 'Digest username="a", realm="b"', "Bearerx abc"]) {
      expect(decide(value)).toEqual({ kind: "none" });
    }
    for (const value of ["Bearer", "Bearer ", "Bearer,", "Basic x, Bearer abc", "Bearer a b"]) expect(decide(value).kind).toBe("ambiguous");
    expect(findCredential("Basic dXNlcjpwYXNz", "tok").kind).toBe("ambiguous");
    expect(findCredential(null, "tok")).toEqual({ kind: "token", token: "tok" });
    expect(findCredential(null, null).kind).toBe("ambiguous"); // the parameter repeated
    expect(findCredential(null, "").kind).toBe("token"); // present but empty: a malformed token, refused later
  });
});
