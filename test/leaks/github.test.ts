// The GitHub secret scanning receiver, with a locally generated P-256 key and
// alerts in GitHub's documented shape (a JSON array of { token, type, url, source }).
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { generateToken, Keyward, MemoryStore } from "keyward";
import { createLeakReceiver, type GitHubPublicKey } from "keyward/leaks";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/crypto.js";
import { alert, github, keyPair, listen, match, other, send } from "../support/github-alerts.js";
import { statusLine } from "../support/slow-clients.js";

async function setup() {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme" });
  const live = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
  const web = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
  const notified: unknown[] = [];
  const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], onLeak: (r) => void notified.push(r) });
  const auditCount = async () => (await kw.tokens.audit({ owner: "acct_1" })).items.length;
  return { kw, live, web, receiver, notified, auditCount };
}

/** A Keyward whose store fails the revocation of the token `failing.id` names (a lock timeout on its row, say) until it is null. */
function flaky() {
  const failing: { id: string | null } = { id: null };
  class Flaky extends MemoryStore {
    override revoke(...args: Parameters<MemoryStore["revoke"]>) {
      return args[0] === failing.id ? Promise.reject(new Error("lock timeout")) : super.revoke(...args);
    }
  }
  return { kw: new Keyward({ store: new Flaky(), prefix: "acme" }), failing };
}

describe("createLeakReceiver (GitHub secret scanning)", () => {
  it("revokes a live secret token, flags a publishable one, labels unknown tokens false_positive", async () => {
    const { kw, live, web, receiver, notified } = await setup();
    const stranger = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const body = JSON.stringify([match(live.token), match(web.token), match(stranger), match("acme_sk_live_nope")]);
    const res = await receiver(alert(body));
    expect(res.status).toBe(200);
    const labels = await res.json();
    expect(labels).toEqual([
      { token_hash: sha256Hex(live.token), token_type: "acme_secret_token", label: "true_positive" },
      { token_hash: sha256Hex(web.token), token_type: "acme_secret_token", label: "true_positive" },
      { token_hash: sha256Hex(stranger), token_type: "acme_secret_token", label: "false_positive" },
      { token_hash: sha256Hex("acme_sk_live_nope"), token_type: "acme_secret_token", label: "false_positive" },
    ]);
    // The answer never carries a token.
    const text = JSON.stringify(labels);
    for (const t of [live.token, web.token, stranger]) expect(text).not.toContain(t);

    expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
    expect((await kw.check({ token: web.token })).ok).toBe(true);
    const audit = (await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "leak");
    expect(audit.map((e) => [e.tokenId, e.actor, e.changes])).toEqual([
      [live.record.id, "leak:github", ["revokedAt", "source:github", `url:${match("").url}`]],
      [web.record.id, "leak:github", ["source:github", `url:${match("").url}`]],
    ]);
    expect(notified).toEqual([
      { outcome: "revoked", tokenId: live.record.id, owner: "acct_1", kind: "secret", url: match("").url, source: "content" },
      { outcome: "flagged", tokenId: web.record.id, owner: "acct_1", kind: "publishable", url: match("").url, source: "content" },
    ]);
  });

  it("a store failure on one token of an alert holds back none of the others: they are revoked, the answer is 503, the retry 200", async () => {
    const { kw, failing } = flaky();
    const create = () => kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const [first, second, third] = [await create(), await create(), await create()];
    failing.id = first.record.id;
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey] });
    const body = JSON.stringify([match(first.token), match(second.token), match(third.token)]);
    expect((await receiver(alert(body))).status).toBe(503);
    expect((await kw.check({ token: first.token })).ok).toBe(true);
    expect((await kw.check({ token: second.token })).code).toBe("TOKEN_REVOKED");
    expect((await kw.check({ token: third.token })).code).toBe("TOKEN_REVOKED");
    // GitHub retries once the store has recovered: the rest is done, and answered.
    failing.id = null;
    const retried = await receiver(alert(body));
    expect(retried.status).toBe(200);
    expect((await retried.json()).map((l: { label: string }) => l.label)).toEqual(["true_positive", "true_positive", "true_positive"]);
    expect((await kw.check({ token: first.token })).code).toBe("TOKEN_REVOKED");
  });

  it("an alert whose store failure came with an onLeak that never settles is acted on again when GitHub retries: the token the store failed on is revoked", async () => {
    const { kw, failing } = flaky();
    const [first, second] = [await kw.tokens.create({ owner: "acct_a", kind: "secret" }), await kw.tokens.create({ owner: "acct_b", kind: "secret" })];
    failing.id = first.record.id;
    // The owner of the second is told by a mail server that never answers.
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], onLeak: () => new Promise<void>(() => {}) });
    const body = JSON.stringify([match(first.token), match(second.token)]);
    void receiver(alert(body)); // waits for its notification: never answered
    await expect.poll(async () => (await kw.check({ token: second.token })).code).toBe("TOKEN_REVOKED");
    // GitHub gives up waiting and retries once the store has recovered: the failed token is revoked (the retry's
    // answer then waits for its owner to be told, which never settles either).
    failing.id = null;
    void receiver(alert(body));
    await expect.poll(async () => (await kw.check({ token: first.token })).code).toBe("TOKEN_REVOKED");
  });

  it("acts on imported legacy keys the verifier accepts, by their stored kind", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", acceptForeignTokens: { prefix: "sk_", minLength: 32 } });
    // Legacy strings say nothing reliable about the kind: this secret one even contains "_pk_".
    const secretKey = "sk_live_pk_0123456789abcdef0123456789abcdef";
    const publicKey = "sk_web_0123456789abcdef0123456789abcdef";
    const secret = await kw.tokens.import({ hash: sha256Hex(secretKey), owner: "acct_1", kind: "secret" });
    const web = await kw.tokens.import({ hash: sha256Hex(publicKey), owner: "acct_1", kind: "publishable", domains: ["app.example.com"] });
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey] });
    const res = await receiver(alert(JSON.stringify([match(secretKey), match(publicKey)])));
    expect((await res.json()).map((l: { label: string }) => l.label)).toEqual(["true_positive", "true_positive"]);
    expect((await kw.check({ token: secretKey })).code).toBe("TOKEN_REVOKED");
    expect((await kw.check({ token: publicKey, origin: "https://app.example.com" })).ok).toBe(true);
    const audit = (await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "leak");
    expect(audit.map((e) => [e.tokenId, e.changes[0]])).toEqual([
      [secret.id, "revokedAt"],
      [web.id, "source:github"],
    ]);
  });

  it("refuses forged, unsigned, malformed and oversized alerts, and they revoke nothing", async () => {
    const { kw, live, receiver, auditCount } = await setup();
    const body = JSON.stringify([match(live.token)]);
    const before = await auditCount();
    const forged = [
      alert(body, other), // signed by a key not configured (its id unknown)
      alert(body, { publicKey: github.publicKey, privateKey: other.privateKey }), // right id, wrong key
      alert(body, github, { "github-public-key-signature": "" }),
      alert(body, github, { "github-public-key-signature": "not base64!" }),
      alert(body, github, { "github-public-key-signature": Buffer.from("0".repeat(70)).toString("base64") }),
      // A run of "=" that a padding regex rescanned from every position (quadratic): 16 KB took 165 ms.
      alert(body, github, { "github-public-key-signature": `${"=".repeat(16_000)}x` }),
      new Request(alert(body).url, { method: "POST", headers: { "github-public-key-identifier": github.publicKey.key_identifier }, body }),
    ];
    for (const r of forged) expect((await receiver(r)).status).toBe(401);
    // A valid signature over another body does not carry over.
    const signedOther = alert(JSON.stringify([match("x")]));
    const swapped = new Request(signedOther.url, { method: "POST", headers: signedOther.headers, body });
    expect((await receiver(swapped)).status).toBe(401);

    for (const bad of ["{", "[]", "{}", '[{"type":"t"}]', `[${JSON.stringify(match(live.token, { url: 5 }))}]`, `[${JSON.stringify(match(live.token))}, 7]`]) {
      expect([bad, (await receiver(alert(bad))).status]).toEqual([bad, 400]);
    }
    const small = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], maxBodyBytes: 64, maxMatches: 2 });
    expect((await small(alert(body))).status).toBe(413);
    expect((await receiver(new Request(alert(body).url, { method: "GET" }))).status).toBe(405);
    const many = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], maxMatches: 2 });
    expect((await many(alert(JSON.stringify([match("a"), match("b"), match("c")])))).status).toBe(400);

    expect(await auditCount()).toBe(before);
    expect((await kw.check({ token: live.token })).ok).toBe(true);
  });

  it("onLeak is handed the URL as the audit entry keeps it: the token redacted, as it is or percent-encoded, a flagged one still live", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const live = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const notified: { url: string | null }[] = [];
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], action: "flag", onLeak: (r) => void notified.push(r) });
    const url = `https://gist.example/raw?key=${live.token}&again=${live.token.replace(/_/g, "%5F")}`;
    expect((await receiver(alert(JSON.stringify([match(live.token, { url })])))).status).toBe(200);
    expect((await kw.check({ token: live.token })).ok).toBe(true);
    const [entry] = (await kw.tokens.audit({ tokenId: live.record.id })).items.filter((e) => e.action === "leak");
    expect(notified).toHaveLength(1);
    expect(`url:${notified[0]!.url}`).toBe(entry!.changes.find((c) => c.startsWith("url:")));
    for (const secret of [live.token, live.token.replace(/_/g, "%5F"), live.token.slice(-20)]) expect(notified[0]!.url).not.toContain(secret);
  });

  it("onLeak is handed the URL as the audit entry keeps it for an imported legacy key too: its prefix, then [redacted]", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", acceptForeignTokens: { prefix: "sk_", minLength: 32 } });
    const legacy = "sk_live_0123456789abcdef0123456789abcdef";
    const imported = await kw.tokens.import({ hash: sha256Hex(legacy), owner: "acct_1", kind: "secret" });
    const notified: { url: string | null }[] = [];
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], action: "flag", onLeak: (r) => void notified.push(r) });
    expect((await receiver(alert(JSON.stringify([match(legacy, { url: `https://gist.example/raw?key=${legacy}` })])))).status).toBe(200);
    const [entry] = (await kw.tokens.audit({ tokenId: imported.id })).items.filter((e) => e.action === "leak");
    expect(entry!.changes).toContain("url:https://gist.example/raw?key=sk_[redacted]");
    expect(notified.map((n) => n.url)).toEqual(["https://gist.example/raw?key=sk_[redacted]"]);
  });

  it("a replayed alert gets the same answer and acts on nothing again", async () => {
    const { live, web, receiver, notified, auditCount } = await setup();
    const body = JSON.stringify([match(web.token), match(live.token)]);
    const first = await (await receiver(alert(body))).json();
    const after = await auditCount();
    const again = await (await receiver(alert(body))).json();
    expect(again).toEqual(first);
    expect(await auditCount()).toBe(after);
    expect(notified).toHaveLength(2);
  });

  it("the same alert twice at once (GitHub retrying one it thinks timed out) acts once: one answer, one notification, one entry per token (real server)", async () => {
    const { kw, live, web, receiver, notified } = await setup();
    const server = await listen(receiver);
    try {
      const body = JSON.stringify([match(web.token), match(live.token)]);
      const answers = await Promise.all([1, 2].map(async () => (await send(`${server.url}/leaks/github`, alert(body))).json()));
      expect(answers[1]).toEqual(answers[0]);
      expect(notified.map((r) => (r as { outcome: string }).outcome)).toEqual(["flagged", "revoked"]);
      expect((await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "leak")).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it("an onLeak that throws or never settles holds back no revocation: every token of the alert is revoked, and a retry gets the answer", async () => {
    const { kw } = await setup();
    const owners = ["acct_a", "acct_b", "acct_c"];
    const tokens = await Promise.all(owners.map(async (owner) => (await kw.tokens.create({ owner, kind: "secret" })).token));
    const body = JSON.stringify(tokens.map((t) => match(t)));
    const told: (string | null)[] = [];
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: [github.publicKey],
      onLeak: (r) => {
        told.push(r.owner);
        if (r.owner === "acct_a") throw new Error("mailer down"); // thrown, not rejected
        if (r.owner === "acct_b") return new Promise<void>(() => {}); // a mail server that never answers
      },
    });
    let settled = false;
    void receiver(alert(body)).finally(() => (settled = true));
    await expect.poll(() => told).toEqual(owners);
    for (const t of tokens) expect((await kw.check({ token: t })).code).toBe("TOKEN_REVOKED");
    expect(settled).toBe(false);
    // GitHub gives up waiting and sends the alert again: the answer, at once, and nothing done twice.
    const retry = await receiver(alert(body));
    expect([retry.status, (await retry.json()).map((l: { label: string }) => l.label)]).toEqual([200, Array(3).fill("true_positive")]);
    expect(told).toEqual(owners);

    // Thrown errors are ignored: the alert is answered.
    const throwing = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], onLeak: () => { throw new Error("mailer down"); } });
    const web = await kw.tokens.create({ owner: "acct_a", kind: "publishable" });
    expect((await throwing(alert(JSON.stringify([match(web.token)])))).status).toBe(200);
  });

  it("works over real HTTP (node:http server, fetch)", async () => {
    const { kw, live, receiver } = await setup();
    const server = await listen(receiver);
    try {
      const res = await send(`${server.url}/leaks/github`, alert(JSON.stringify([match(live.token)])));
      expect([res.status, (await res.json())[0].label]).toEqual([200, "true_positive"]);
      expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
    } finally {
      await server.close();
    }
  });

  it("forged alerts whose bodies never end are each answered 408 at bodyTimeoutMs: no receiver call is left waiting (real server)", async () => {
    const { kw } = await setup();
    const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], bodyTimeoutMs: 200 });
    // node:http handing the body on as it comes, as Hono's node adapter does.
    let running = 0;
    const server = createServer(async (req, res) => {
      running++;
      const headers = new Headers(req.headers as Record<string, string>);
      const body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      const answer = await receiver(new Request(`http://localhost${req.url}`, { method: req.method, headers, body, duplex: "half" } as RequestInit));
      running--;
      res.writeHead(answer.status, { "content-type": "application/json", connection: "close" }).end(await answer.text());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    // Only a known key id and a well-formed DER signature (of other bytes) are needed.
    const signature = sign("sha256", Buffer.from("other"), other.privateKey).toString("base64");
    /** An alert whose chunked body sends a byte now and then, never ending: its status line, if it comes within 3 s. */
    const endless = () =>
      statusLine(port, [
        `POST /leaks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ngithub-public-key-identifier: ${github.publicKey.key_identifier}\r\ngithub-public-key-signature: ${signature}\r\n\r\n1\r\n[\r\n`,
      ], { drip: "1\r\n \r\n", waitMs: 3000 });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, endless));
      expect(answers).toEqual(Array(20).fill("HTTP/1.1 408 Request Timeout"));
      expect(running).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("checks its options eagerly", () => {
    const { publicKey } = github;
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    expect(() => createLeakReceiver({ keyward: {} as Keyward, publicKeys: [publicKey] })).toThrow(TypeError);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [] })).toThrow(TypeError);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [{ key_identifier: "x", key: "nope" }] })).toThrow(/x is not an ECDSA P-256 public key in PEM/);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], maxBodyBytes: 0 })).toThrow(RangeError);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], bodyTimeoutMs: 0 })).toThrow(/options.bodyTimeoutMs must be a positive integer/);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: async () => [publicKey], keyLoadTimeoutMs: 1.5 })).toThrow(/options.keyLoadTimeoutMs/);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: async () => [publicKey], refreshIntervalMs: 0 })).toThrow(RangeError);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], onKeyError: "log" as unknown as () => void })).toThrow(TypeError);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], action: "delete" as "flag" })).toThrow(TypeError);
    // An option of another name: a misspelt action: "flag" would revoke, a misspelt onLeak tell no one.
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], acton: "flag" } as never)).toThrow(/options.acton is not an option of createLeakReceiver/);
    expect(() => createLeakReceiver({ keyward: kw, publicKeys: [publicKey], onleak: () => {} } as never)).toThrow(TypeError);
  });
});

describe("createLeakReceiver's keys", () => {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const pem = (der: Buffer) => `-----BEGIN PUBLIC KEY-----\n${der.toString("base64")}\n-----END PUBLIC KEY-----\n`;
  const spki = (key: KeyObject) => key.export({ type: "spki", format: "der" });
  const p256 = spki(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
  /** The P-256 key with its y coordinate changed: the point is off the curve. */
  const offCurve = Buffer.from(p256);
  offCurve[offCurve.length - 1]! ^= 1;

  it("loads GitHub's keys itself and again for an unknown key id, at most once per refreshIntervalMs (real servers, a key rotated mid-run)", async () => {
    const interval = 1000;
    // GitHub's key endpoint, on 127.0.0.1: the keys it lists now.
    let listed = [github.publicKey];
    const meta = await listen(async () => Response.json({ public_keys: listed.map((k) => ({ ...k, is_current: true })) }));
    const { kw, live, web } = await setup();
    // The time of each load, when the receiver starts it (what the interval bounds; the request may reach the
    // endpoint later on a loaded machine, each after its own delay).
    const loads: number[] = [];
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: async () => {
        loads.push(performance.now());
        return (await (await fetch(`${meta.url}/meta/public_keys/secret_scanning`)).json()).public_keys;
      },
      refreshIntervalMs: interval,
    });
    const server = await listen(receiver);
    const post = (request: Request) => send(`${server.url}/leaks/github`, request);
    const sinceLastLoad = () => performance.now() - loads.at(-1)!;
    /** `n` alerts under random key ids, `concurrency` at a time: all 401. */
    const flood = async (n: number, concurrency: number) => {
      const body = JSON.stringify([match(live.token)]);
      for (let i = 0; i < n; i += concurrency) {
        const batch = Array.from({ length: concurrency }, () => post(alert(body, github, { "github-public-key-identifier": randomBytes(32).toString("hex") })));
        expect(new Set((await Promise.all(batch)).map((r) => r.status))).toEqual(new Set([401]));
      }
    };
    try {
      // The first alert loads the keys.
      expect((await post(alert(JSON.stringify([match(web.token)])))).status).toBe(200);
      expect(loads).toHaveLength(1);
      // 300 alerts under random key ids right after: no load (or one per interval, on a slow machine).
      await flood(300, 30);
      expect(loads.length).toBeLessThanOrEqual(1 + Math.floor((performance.now() - loads[0]!) / interval));

      // GitHub rotates: the new key is listed, the old one dropped. Just after a load, the list is not asked for again.
      await sleep(interval - sinceLastLoad() + 20);
      expect((await post(alert("[]", other))).status).toBe(401); // unknown id: a load, of the list before the rotation
      const before = loads.length;
      listed = [other.publicKey];
      const rotated = alert(JSON.stringify([match(live.token)]), other);
      expect((await post(rotated.clone())).status).toBe(401);
      expect(loads).toHaveLength(before);
      // Once the interval has passed, the first alert signed with the new key loads it, and is acted on.
      await sleep(interval - sinceLastLoad() + 20);
      const res = await post(rotated.clone());
      expect([res.status, (await res.json())[0].label]).toEqual([200, "true_positive"]);
      expect(loads).toHaveLength(before + 1);
      expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
      // The same receiver: its replay memory is kept; the dropped key is refused.
      expect((await post(rotated.clone())).status).toBe(200);
      expect((await post(alert(JSON.stringify([match(web.token)])))).status).toBe(401);

      // A concurrent flood once the interval has passed: one load for all of them.
      await sleep(interval - sinceLastLoad() + 20);
      const start = loads.length;
      const t0 = performance.now();
      await flood(300, 100);
      expect(loads.length - start).toBeGreaterThanOrEqual(1);
      expect(loads.length - start).toBeLessThanOrEqual(1 + Math.floor((performance.now() - t0) / interval));
      // Never two loads within the interval.
      for (let i = 1; i < loads.length; i++) expect(loads[i]! - loads[i - 1]!).toBeGreaterThan(interval - 50);
    } finally {
      await server.close();
      await meta.close();
    }
  }, 60_000); // 600 alerts over HTTP, each verified: over 20 s under load (3 busy processes besides the suite)

  it("a load that fails, or lists no usable key, keeps the keys it had and is told to onKeyError; an unusable key is left out", async () => {
    const { kw, live } = await setup();
    const bad = { key_identifier: "p384", key: generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey.export({ type: "spki", format: "pem" }).toString() };
    const answers: (() => Promise<readonly GitHubPublicKey[]>)[] = [
      async () => {
        throw new Error("api.github.com unreachable");
      },
      async () => [github.publicKey, bad],
      async () => [bad],
      async () => ({ public_keys: [other.publicKey] }) as unknown as GitHubPublicKey[],
    ];
    const errors: unknown[] = [];
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: () => answers.shift()!(),
      refreshIntervalMs: 1,
      onKeyError: (e) => {
        errors.push(e);
        throw new Error("ignored");
      },
    });
    const body = JSON.stringify([match(live.token)]);
    // Nothing loaded: 503, GitHub retries.
    expect((await receiver(alert("[]"))).status).toBe(503);
    expect(errors.map(String)).toEqual(["Error: api.github.com unreachable"]);
    await sleep(2);
    // The P-384 key is left out (and named); the P-256 one is used.
    expect((await receiver(alert("[]", github, { "github-public-key-identifier": "p384" }))).status).toBe(401);
    expect(errors.map(String).slice(1)).toEqual(["TypeError: public key p384 is not an ECDSA P-256 public key in PEM (SubjectPublicKeyInfo)"]);
    await sleep(2);
    // A list without a usable key, then something that is not a list: the keys loaded before are kept.
    expect((await receiver(alert("[]", other))).status).toBe(503);
    await sleep(2);
    expect((await receiver(alert("[]", other))).status).toBe(503);
    expect(errors.map(String).slice(2)).toEqual([
      "TypeError: public key p384 is not an ECDSA P-256 public key in PEM (SubjectPublicKeyInfo)",
      "TypeError: options.publicKeys() gave no usable key",
      "TypeError: options.publicKeys() must resolve to a list of keys",
    ]);
    expect((await receiver(alert(body))).status).toBe(200);
    expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
  });

  it("a load that does not answer: alerts waiting for it are answered 503 at keyLoadTimeoutMs, and the load goes on for later alerts", async () => {
    const { kw, live } = await setup();
    let loads = 0;
    let answerLoad: (keys: GitHubPublicKey[]) => void = () => {};
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: () => {
        loads++;
        return new Promise((resolve) => {
          answerLoad = resolve;
        });
      },
      keyLoadTimeoutMs: 100,
    });
    // 200 forged alerts under random key ids, and one real one, while the load hangs: each answered 503 (GitHub retries).
    const forged = Array.from({ length: 200 }, () => receiver(alert("[]", github, { "github-public-key-identifier": randomBytes(32).toString("hex") })));
    const body = JSON.stringify([match(live.token)]);
    const statuses = (await Promise.all([...forged, receiver(alert(body))])).map((r) => r.status);
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(loads).toBe(1);
    // The load answers at last: the retried alert is acted on, with no second load.
    answerLoad([github.publicKey]);
    const retried = await receiver(alert(body));
    expect([retried.status, (await retried.json())[0].label]).toEqual([200, "true_positive"]);
    expect(loads).toBe(1);
  });

  it("a load that never settles is abandoned once refreshIntervalMs has passed: the next alert loads again, one load at a time (real server, real signed alerts)", async () => {
    const { kw, live } = await setup();
    // Long beside keyLoadTimeoutMs: the second alert comes within it after the first one's wait.
    const interval = 1500;
    const signals: AbortSignal[] = [];
    /** When the receiver started each load. */
    const loads: number[] = [];
    const errors: unknown[] = [];
    let hang = true;
    const receiver = createLeakReceiver({
      keyward: kw,
      // The first call never settles; the ones after it answer.
      publicKeys: async (signal) => {
        signals.push(signal);
        loads.push(performance.now());
        if (hang) return new Promise<never>(() => {});
        await sleep(50);
        return [github.publicKey];
      },
      keyLoadTimeoutMs: 100,
      refreshIntervalMs: interval,
      onKeyError: (e) => void errors.push(e),
    });
    const server = await listen(receiver);
    const post = (request: Request) => send(`${server.url}/leaks/github`, request);
    const body = JSON.stringify([match(live.token)]);
    try {
      // The load hangs: the alert is answered 503 at keyLoadTimeoutMs, and the hang is told once.
      expect((await post(alert(body))).status).toBe(503);
      expect((await post(alert(body))).status).toBe(503);
      // Within the interval (always but on a machine that took over a second for the second alert): no load.
      if (performance.now() - loads[0]! < interval) expect(signals).toHaveLength(1);
      expect(errors.map(String)).toEqual(Array(signals.length).fill("Error: options.publicKeys() did not settle within keyLoadTimeoutMs (100 ms)"));
      // Once the interval has passed: 20 retries at once start one new load (the hung one is aborted), and are acted on.
      hang = false;
      const hung = signals.length;
      await sleep(interval + 20 - (performance.now() - loads.at(-1)!));
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(alert(body))));
      expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(signals).toHaveLength(hung + 1);
      expect([signals[hung - 1]!.aborted, signals[hung - 1]!.reason?.name, signals[hung]!.aborted]).toEqual([true, "TimeoutError", false]);
      expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
      expect(errors).toHaveLength(hung);
    } finally {
      await server.close();
    }
  });

  it("refuses at creation a key that cannot verify GitHub's signatures, naming it (not a silent 401 for every alert)", async () => {
    const unusable: [string, string][] = [
      ["p384", pem(spki(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey))],
      ["secp256k1", pem(spki(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey))],
      ["rsa", pem(spki(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey))],
      ["ed25519", pem(spki(generateKeyPairSync("ed25519").publicKey))],
      ["garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"],
      ["cut", pem(p256.subarray(0, 60))],
      ["off-curve", pem(offCurve)],
      // Not DER (Node's WebCrypto lets the extra byte pass; a strict parser does not).
      ["trailing", pem(Buffer.concat([p256, Buffer.from([0])]))],
    ];
    for (const [id, key] of unusable) {
      // WebCrypto would not use it either.
      const der = Buffer.from(key.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
      if (id !== "trailing") {
        await expect(crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])).rejects.toThrow();
      }
      expect(() => createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey, { key_identifier: id, key }] })).toThrow(
        new TypeError(`public key ${id} is not an ECDSA P-256 public key in PEM (SubjectPublicKeyInfo)`),
      );
    }
    // Any P-256 key is taken (here 20 of them), as WebCrypto takes it.
    for (let i = 0; i < 20; i++) {
      const { publicKey } = keyPair(`k${i}`);
      expect(typeof createLeakReceiver({ keyward: kw, publicKeys: [publicKey] })).toBe("function");
    }
  });
});

describe("the regular expression docs/leaks.md gives scanners", () => {
  it("matches a secret token glued to the text around it; a look-alike it lets in, the receiver answers false_positive", async () => {
    const doc = readFileSync(new URL("../../docs/leaks.md", import.meta.url), "utf8");
    const source = /as scanners take it[^`]*```\n(.*)\n```/.exec(doc)![1]!;
    // The same expression in the gitleaks rule.
    expect(doc).toContain(`regex = '''${source}'''`);
    const pattern = new RegExp(source, "g");
    const { receiver, live } = await setup();
    for (const [before, after] of [["Authorization%3A%20Bearer%20", "%0A"], ['{"t":"a\\n', '"}'], ["KEY_", "_OLD"], ["x", "y"], ["", ""]]) {
      expect([before, [...`${before}${live.token}${after}`.matchAll(pattern)].map((m) => m[1])]).toEqual([before, [live.token]]);
    }
    const lookAlike = `${live.token.slice(0, -1)}${live.token.endsWith("A") ? "B" : "A"}`;
    expect(lookAlike).toMatch(pattern);
    const res = await receiver(alert(JSON.stringify([match(lookAlike)])));
    expect((await res.json())[0].label).toBe("false_positive");
  });
});
