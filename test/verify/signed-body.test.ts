// kw.verify on a signed request: signatures.required keeps the safe minimum
// unless an unsafe option says otherwise, and the body is read only after the
// key is known and the signature verified, within signatures.bodyTimeoutMs.
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { Keyward, type KeywardOptions, MemoryStore } from "keyward";
import { type SigningKey, signatureHeaders } from "keyward/signing";

const T0 = Date.UTC(2026, 0, 1);
const URL_ = "https://api.example.com/v1/prices";

/** A body that sends a byte every `everyMs`, forever, counting pulls. */
function dripping(everyMs = 20) {
  const state = { pulls: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        state.pulls++;
        await new Promise((r) => setTimeout(r, everyMs));
        controller.enqueue(new Uint8Array([0x78]));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

async function setup(signatures: KeywardOptions["signatures"] = { bodyTimeoutMs: 150 }) {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme", now: () => T0, signatures });
  const privateKey = ed.utils.randomSecretKey();
  const publicKey = await ed.getPublicKeyAsync(privateKey);
  const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } });
  return { kw, store, id: record.id, key: { alg: "ed25519", privateKey } as SigningKey };
}

async function dripRequest(keyid: string, key: SigningKey) {
  const fields = await signatureHeaders(new Request(URL_, { method: "POST", body: "xxxx" }), {
    keyid,
    key,
    nonce: true,
    created: T0 / 1000,
  });
  const { stream, state } = dripping();
  const request = new Request(URL_, { method: "POST", headers: { ...fields }, body: stream, duplex: "half" } as RequestInit);
  return { request, state };
}

describe("verify: signatures.required keeps the safe minimum", () => {
  it("a custom list without created still needs a time, unless unsafeAllowNoFreshness", async () => {
    const signature = async (id: string, key: SigningKey) => {
      const fields = await signatureHeaders(new Request(URL_), { keyid: id, key, nonce: true, params: ["nonce", "keyid", "alg"] });
      return new Request(URL_, { headers: { ...fields } });
    };
    const strict = await setup({ required: ["@method", "@target-uri"] });
    expect(await strict.kw.verify(await signature(strict.id, strict.key))).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    const unsafe = await setup({ required: ["@method", "@target-uri"], unsafeAllowNoFreshness: true });
    expect(await unsafe.kw.verify(await signature(unsafe.id, unsafe.key))).toMatchObject({ ok: true });
  });

  it("a custom list still needs the body covered, unless unsafeAllowUncoveredBody", async () => {
    const signature = async (id: string, key: SigningKey) => {
      const init = { method: "POST", body: '{"amount":1}' };
      const fields = await signatureHeaders(new Request(URL_, init), { keyid: id, key, nonce: true, created: T0 / 1000, components: ["@method", "@target-uri"] });
      return new Request(URL_, { ...init, headers: { ...fields } });
    };
    const strict = await setup({ required: ["@method", "@target-uri", "created"] });
    expect(await strict.kw.verify(await signature(strict.id, strict.key))).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    const unsafe = await setup({ required: ["@method", "@target-uri", "created"], unsafeAllowUncoveredBody: true });
    expect(await unsafe.kw.verify(await signature(unsafe.id, unsafe.key))).toMatchObject({ ok: true });
  });
});

describe("verify: the body of a signed request", () => {
  it("an unknown keyid with a body that drips forever: denied at once, the body never pulled", async () => {
    const { kw, key } = await setup();
    const { request, state } = await dripRequest("tok_0000000000000000000000", key);
    expect(await kw.verify(request)).toMatchObject({ ok: false, code: "TOKEN_UNKNOWN" });
    expect(state.pulls).toBe(0);
  });

  it("a valid signature over a dripping body: BODY_TIMEOUT (408) after signatures.bodyTimeoutMs, no nonce stored", async () => {
    const { kw, store, id, key } = await setup();
    const { request } = await dripRequest(id, key);
    const remembered: unknown[] = [];
    const rememberNonce = store.rememberNonce.bind(store);
    store.rememberNonce = (k, expiresAt, now) => {
      remembered.push(k);
      return rememberNonce(k, expiresAt, now);
    };
    expect(await kw.verify(request)).toMatchObject({ ok: false, code: "BODY_TIMEOUT", status: 408 });
    expect(remembered).toEqual([]);
  });
});

describe("a body the application read before the signed-body check", () => {
  it("is BODY_ALREADY_READ (500), not SIGNATURE_INVALID: through a real server, signed by signedFetch, HMAC", async () => {
    const { serve } = await import("@hono/node-server");
    const { createSigner, signedFetch } = await import("keyward/client");
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", sealingKey: "k".repeat(43) });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    // The application's bug: it parses the JSON first, then asks keyward.
    const server = serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (request: Request) => {
        const early = new URL(request.url).pathname === "/early";
        if (early) await request.json();
        const d = await kw.verify(request, { ip: "127.0.0.1" });
        return d.ok ? Response.json({ ok: true, body: await request.json() }) : d.toResponse();
      },
    }) as import("node:http").Server;
    await new Promise((r) => server.once("listening", r));
    const base = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}`;
    try {
      const api = signedFetch(createSigner({ keyId: record.id, alg: "hmac-sha256", token }));
      const init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ qty: 1 }) };
      const right = await api(`${base}/late`, init);
      expect([right.status, await right.json()]).toEqual([200, { ok: true, body: { qty: 1 } }]);
      const wrong = await api(`${base}/early`, init);
      expect(wrong.status).toBe(500);
      expect(await wrong.json()).toMatchObject({ code: "BODY_ALREADY_READ", status: 500 });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
