// No secret reaches what an application shows: util.inspect (hidden fields, deep), JSON and the text
// and stack of errors thrown from bad input, for every public object that has seen one.
import { DatabaseSync } from "node:sqlite";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { createAdminHandler } from "../../src/admin/index.js";
import { createSigner } from "../../src/client/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { Keyward, MemoryStore, type TokenStore } from "../../src/index.js";
import { createLeakReceiver } from "../../src/leaks/index.js";
import { toBase64, toBase64Url, toHex, utf8 } from "../../src/lib/bytes.js";
import { deriveSigningSecret } from "../../src/lib/derive.js";
import { postgresStore } from "../../src/postgres/index.js";
import { signRequest } from "../../src/signing/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";
import { freshPrefix, hasPostgres, openPool, PG_URL } from "../postgres/server.js";
import { alert, github } from "../support/github-alerts.js";
import { otel } from "../support/otel.js";

const SEALING = new Uint8Array(32).map((_, i) => 200 - i);
const SEALING_KEY = toBase64(SEALING);

/** Every form a secret's bytes are shown in. */
function formsOf(secret: string | Uint8Array): string[] {
  const bytes = typeof secret === "string" ? utf8(secret) : secret;
  const forms = [toHex(bytes), toBase64(bytes), toBase64Url(bytes), toBase64(bytes).replace(/=+$/, "")];
  if (typeof secret === "string") forms.push(secret);
  // The bytes as inspect lists a Uint8Array (`Uint8Array(32) [ 200, 199, …`) and a Buffer (`<Buffer c8 c7 …`).
  const head = Array.from(bytes.slice(0, 8));
  forms.push(head.join(", "), head.map((b) => b.toString(16).padStart(2, "0")).join(" "));
  return forms;
}

function shown(value: unknown): string {
  const out = [inspect(value, { depth: 10, showHidden: true }), inspect(value, { depth: 10, showHidden: true, getters: true }), String(value)];
  try {
    out.push(JSON.stringify(value) ?? "");
  } catch {
    // Not serialisable (a cycle): not shown so.
  }
  if (value instanceof Error) out.push(value.stack ?? "", inspect(value.cause, { depth: 10, showHidden: true }));
  // One line: inspect breaks a long list of bytes across lines.
  return out.join("\n").replace(/\s+/g, " ");
}

function expectNone(value: unknown, secrets: readonly (string | Uint8Array)[]): void {
  const text = shown(value);
  for (const s of secrets) for (const form of formsOf(s)) expect(text, form).not.toContain(form);
}

/** What a store keeps of a token and must not show either: the hash of its secret, its sealed signing key. */
async function storedSecrets(store: TokenStore, id: string): Promise<string[]> {
  const stored = (await store.get(id))!;
  const sealed = stored.signing?.alg === "hmac-sha256" ? [stored.signing.sealed.ciphertext, stored.signing.sealed.iv] : [];
  expect(stored.hash).toMatch(/^[0-9a-f]{64}$/);
  return [stored.hash, ...sealed];
}

/** What `f` gives: its error, or its value. */
async function outcome(f: () => unknown): Promise<unknown> {
  try {
    return await f();
  } catch (e) {
    return e;
  }
}

describe("secrets never shown", () => {
  it("the check itself: a secret in any of its forms, at any depth, is found", () => {
    const token = "acme_sk_live_abc";
    for (const v of [{ a: { b: { c: { d: token } } } }, { k: SEALING }, { k: Buffer.from(SEALING) }, toHex(SEALING), toBase64Url(SEALING), new Error(`x ${toBase64(SEALING)}`)]) {
      expect(() => expectNone(v, [token, SEALING]), inspect(v)).toThrow();
    }
    const hidden = {};
    Object.defineProperty(hidden, "k", { value: token, enumerable: false });
    expect(() => expectNone(hidden, [token])).toThrow();
  });

  it("Keyward, its managers, issued tokens, records, decisions, events, alerts and audit entries", async () => {
    const events: unknown[] = [];
    const logs: unknown[] = [];
    const o = otel();
    const store = new MemoryStore();
    const kw = new Keyward({
      store,
      prefix: "acme",
      sealingKey: SEALING_KEY,
      usage: { onDecision: (e) => events.push(e) },
      anomalies: {},
      telemetry: { meter: o.meter, tracer: o.tracer, logger: (r) => logs.push(r) },
    });
    const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret", name: "n", signing: { alg: "hmac-sha256" } });
    const pub = await kw.tokens.create({ owner: "acct_1", kind: "publishable", name: "p", domains: ["example.com"] });
    const signingSecret = deriveSigningSecret(issued.token);
    const secrets = [issued.token, pub.token, SEALING, signingSecret, ...(await storedSecrets(store, issued.record.id))];
    const ok = await kw.check({ token: issued.token, scope: "core:read", ip: "203.0.113.1" });
    const denied = await kw.check({ token: pub.token, scope: "core:read", origin: "https://evil.example" });
    const inUrl = await kw.verify(new Request(`https://api.example.com/x?key=${issued.token}`), { scope: "core:read" });
    await kw.flush();
    const leak = await kw.tokens.reportLeak(pub.token, {
      source: "scanner",
      url: `https://paste.example/raw/${encodeURIComponent(pub.token)}?also=${issued.token.replaceAll("_", "%5f")}#${pub.token}`,
      action: "flag",
    });
    const rotated = await kw.tokens.regenerate(issued.record.id, { graceMs: 60_000 });
    secrets.push(rotated.token);
    const audit = [await kw.tokens.audit({ tokenId: issued.record.id }), await kw.tokens.audit({ tokenId: pub.record.id })];
    expect(JSON.stringify(audit)).toContain("url:https://paste.example/raw/");
    const spans = o.spans().map((span) => ({ name: span.name, attributes: span.attributes, status: span.status }));
    const metrics = [...(await o.metrics())];
    expect(spans.length).toBeGreaterThan(2);
    const shownObjects = [store, kw, leak, kw.tokens, kw.usage, kw.accounts, kw.credits, kw.anomalies, issued, pub, rotated, issued.record, ok, denied, inUrl];
    const records = [events, logs, spans, metrics, audit, kw.anomalies.list(), await kw.tokens.get(issued.record.id), await kw.tokens.list("acct_1")];
    for (const v of [...shownObjects, ...records]) {
      expectNone(v, secrets);
    }
    await kw.close();
  });

  it("answers of the fetch wrapper to a token sent wrongly: in the URL, malformed, with a bad signature", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: SEALING_KEY });
    const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret", requireSignedRequests: true, signing: { alg: "hmac-sha256" } });
    const route = keywardFetch(kw).requireToken({ scope: "core:read" }, () => new Response("ok"));
    const bearer = (value: string, headers: Record<string, string> = {}) => new Request("https://api.example/x", { headers: { authorization: `Bearer ${value}`, ...headers } });
    const answers = await Promise.all([
      route(new Request(`https://api.example/x?api_key=${issued.token}`)),
      route(bearer(issued.token)),
      route(bearer(`${issued.token}x`)),
      route(bearer(issued.token.slice(0, -1))),
      route(bearer(issued.token, { "signature-input": `sig1=("@method");keyid="${issued.record.id}";alg="hmac-sha256";created=1`, signature: `sig1=:${toBase64(deriveSigningSecret(issued.token))}:` })),
    ]);
    const texts = await Promise.all(answers.map(async (r) => `${r.status} ${JSON.stringify([...r.headers])} ${await r.text()}`));
    expect(answers.map((r) => r.status)).toEqual([400, 401, 401, 401, 401]);
    expectNone(texts, [issued.token, issued.token.slice(13), SEALING, deriveSigningSecret(issued.token)]);
    await kw.close();
  });

  it("a SQLite store and its options", async () => {
    const store = sqliteStore(new DatabaseSync(":memory:"));
    const kw = new Keyward({ store, prefix: "acme", sealingKey: SEALING_KEY });
    const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "hmac-sha256" } });
    await kw.check({ token: issued.token, scope: "core:read" });
    const secrets = [issued.token, SEALING, deriveSigningSecret(issued.token), ...(await storedSecrets(store, issued.record.id))];
    for (const v of [store, kw, await kw.tokens.get(issued.record.id)]) expectNone(v, secrets);
    await kw.close();
  });

  it.runIf(hasPostgres)("a PostgreSQL store on a pool whose URL has the password, up or down", async () => {
    // A role of its own: the test server's password may be a word of its messages (its user's name).
    const admin = openPool();
    const role = `${freshPrefix()}role`;
    const password = "pw-Zq81kLmN0pQr";
    await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    const url = (over: { password?: string; port?: string } = {}) => Object.assign(new URL(PG_URL!), { username: role, password, ...over }).toString();
    const pool = openPool({ connectionString: url() });
    const down = openPool({ connectionString: url({ port: "1" }), connectionTimeoutMillis: 2_000 });
    const wrong = openPool({ connectionString: url({ password: "not-the-password" }) });
    try {
      const store = await postgresStore(pool, { tablePrefix: freshPrefix(), creditLeases: {} });
      const kw = new Keyward({ store, prefix: "acme", sealingKey: SEALING_KEY });
      const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "hmac-sha256" } });
      await kw.check({ token: issued.token, scope: "core:read" });
      const secrets = [issued.token, SEALING, deriveSigningSecret(issued.token), password, "not-the-password", ...(await storedSecrets(store, issued.record.id))];
      for (const v of [store, kw, await outcome(() => postgresStore(down)), await outcome(() => postgresStore(wrong))]) expectNone(v, secrets);
      await kw.close();
      await store.close();
    } finally {
      await Promise.all([pool.end(), down.end(), wrong.end()]);
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
      await admin.end();
    }
  });

  it("the admin handler and the leak receiver", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: SEALING_KEY });
    const admin = createAdminHandler({ keyward: kw, authorize: () => ({ owner: "acct_1" }) });
    const created = await admin(new Request("https://x.example/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ kind: "secret", name: "n", signing: { alg: "hmac-sha256" } }) }));
    const body = (await created.json()) as { token: string; record: { id: string } };
    const secrets = [body.token, SEALING, deriveSigningSecret(body.token)];
    const answers = [
      await admin(new Request(`https://x.example/tokens/${body.record.id}`)),
      await admin(new Request(`https://x.example/tokens/${body.record.id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: body.token }) })),
      await admin(new Request(`https://x.example/tokens?name=${body.token}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ kind: "secret", nme: body.token, signing: { alg: "hmac-sha256", secret: body.token } }) })),
      await admin(new Request(`https://x.example/tokens/${body.token}`)),
    ];
    const texts = await Promise.all(answers.map(async (r) => `${r.status} ${await r.text()}`));
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey] });
    const leak = await receiver(alert(JSON.stringify([{ token: body.token, type: "t", url: "u", source: "s" }])));
    for (const v of [admin, receiver, texts, `${leak.status} ${await leak.text()}`]) expectNone(v, secrets);
    await kw.close();
  });

  it("errors of bad input that held a secret", async () => {
    const nearKey = toBase64(SEALING.slice(0, 31));
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: SEALING_KEY });
    const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const seed = new Uint8Array(64).map((_, i) => 17 + i);
    const errors = [
      await outcome(() => new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: nearKey })),
      await outcome(() => new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: [SEALING_KEY, nearKey] })),
      await outcome(() => new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: SEALING_KEY.slice(0, -2) })),
      await outcome(() => kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "ed25519", publicKey: seed } })),
      await outcome(() => kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "ed25519", publicKey: toBase64(seed) } })),
      await outcome(() => kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "hmac-sha256", secret: issued.token } as never })),
      await outcome(() => kw.tokens.import({ hash: issued.token, owner: "acct_1", kind: "secret" })),
      await outcome(() => kw.tokens.get(issued.token)),
      await outcome(() => kw.tokens.update(issued.token, { name: "x" })),
      await outcome(() => kw.check({ token: issued.token, scope: issued.token } as never)),
      await outcome(() => kw.check(issued.token as never)),
      await outcome(() => createSigner({ keyId: "tok_1", alg: "ed25519", privateKey: seed })),
      await outcome(() => createSigner({ keyId: "tok_1", alg: "hmac-sha256", token: issued.token.slice(0, -1) })),
      await outcome(() => createSigner({ keyId: issued.token, alg: "hmac-sha256", token: issued.token })),
      await outcome(() => signRequest(new Request("https://api.example/x"), { keyid: "tok_1", key: { alg: "ed25519", privateKey: seed } })),
      await outcome(() => signRequest(new Request("https://api.example/x"), { keyid: "tok_1", key: { alg: "ed25519", privateKey: toBase64(seed) } as never })),
      await outcome(() => signRequest(new Request("https://api.example/x"), { keyid: "tok_1", key: { alg: "hmac-sha256", secret: issued.token } as never })),
      await outcome(() => signRequest(new Request("https://api.example/x"), { keyid: "tok_1", key: { alg: "rsa", secret: SEALING } as never })),
    ];
    for (const e of errors) expectNone(e, [issued.token, SEALING, SEALING.slice(0, 31), seed, seed.slice(0, 32)]);
    await kw.close();
  });
});
