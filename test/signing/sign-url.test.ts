// signRequest(url, init, options): the Request fetch(url, init) would send,
// signed without cloning or reading its body, and signed exactly as
// signRequest(new Request(url, init), options) signs it.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keywardFetch } from "../../src/fetch/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { computeContentDigest, type SigningKey, type SignRequestOptions, signRequest, verifyRequest } from "../../src/signing/index.js";
import { ED25519_PUBLIC, ED25519_SEED, ed25519KeyPair, frozen, SHARED_SECRET } from "./helpers.js";

const T = 1_700_000_000;
const ed: SigningKey = { alg: "ed25519", privateKey: ED25519_SEED };
const hmac: SigningKey = { alg: "hmac-sha256", secret: SHARED_SECRET };
const resolveKey = (_: string, alg?: string) => (alg === "hmac-sha256" ? hmac : { alg: "ed25519", publicKey: ED25519_PUBLIC }) as never;

/** What a signed request is, to compare two: method, URL, every header, the body's bytes. */
async function shape(request: Request) {
  return {
    method: request.method,
    url: request.url,
    headers: [...request.headers],
    body: request.body === null ? null : [...new Uint8Array(await request.arrayBuffer())],
  };
}

/** The outcome of a call: the request's shape, or the error's class and message. */
async function outcome(sign: () => Promise<Request>) {
  try {
    return { ok: await shape(await sign()) };
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

// Text with what UTF-8 encoding must get right: multi-byte characters, and lone surrogates (U+FFFD, as USVString).
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }), fc.string({ unit: fc.constantFrom("a", "é", "€", "😀", "\ud800", "\udfff", "&", "=", "+", " ") }));
const bytes = fc.uint8Array({ maxLength: 64 });
const body = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  text,
  bytes,
  bytes.map((b) => b.buffer as ArrayBuffer),
  // A view into a larger buffer: its own bytes only.
  fc.tuple(bytes, fc.nat(8), fc.nat(8)).map(([b, start, cut]) => new DataView(b.buffer, Math.min(start, b.length), Math.max(0, b.length - Math.min(start, b.length) - cut))),
  fc.tuple(bytes, fc.nat(8)).map(([b, start]) => b.subarray(Math.min(start, b.length))),
  fc.array(fc.tuple(text, text), { maxLength: 4 }).map((pairs) => new URLSearchParams(pairs)),
);
const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post", "put", "patch", "delete", "QUERY", "Get");
const url = fc.oneof(
  fc.constantFrom(
    "https://api.example.com/v1/prices?symbol=X",
    "https://api.example.com",
    "https://API.Example.COM:443/a/../b/%7e?",
    "http://127.0.0.1:8080/x?a=1&a=2#frag",
    "https://api.example.com/v1/p%C3%A9?q=caf%C3%A9&e=",
  ),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
);
const headers = fc.record(
  {
    "content-type": fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded"),
    "x-trace": fc.stringMatching(/^[a-z0-9 ]{0,12}$/),
    "content-language": fc.constantFrom("en", "fr"),
  },
  { requiredKeys: [] },
);
const components = fc.constantFrom(
  undefined,
  ["@method", "@target-uri"],
  ["@method", "@target-uri", "content-digest"],
  ["@method", "@authority", "@path", "@query", "content-type", "content-digest"],
  ["@request-target", "content-type"],
  ["@method", "@target-uri", "content-language"],
);
const key = fc.constantFrom(ed, hmac);

describe("signRequest(url, init, options)", () => {
  it("signs exactly as signRequest(new Request(url, init), options): same fields, method, URL and body bytes; the same errors", async () => {
    await fc.assert(
      fc.asyncProperty(method, url, headers, body, components, key, fc.boolean(), async (m, u, h, b, c, k, nonce) => {
        const init: RequestInit = { method: m, headers: h, body: b };
        const options: SignRequestOptions = { keyId: "tok_1", key: k, components: c, created: T, ...(nonce ? { nonce: "n0nce" } : {}) };
        const fast = await outcome(() => signRequest(u, init, options));
        const general = await outcome(() => signRequest(new Request(u, init), options));
        expect(fast).toEqual(general);
      }),
      { numRuns: 400 },
    );
  });

  it("a string or URLSearchParams body: the Content-Type fetch adds is the one signed, and the request verifies", async () => {
    const cases = [
      ["héllo", "text/plain;charset=UTF-8", "héllo"],
      [new URLSearchParams({ q: "café & co", n: "1" }), "application/x-www-form-urlencoded;charset=UTF-8", "q=caf%C3%A9+%26+co&n=1"],
    ] as const;
    for (const [b, type, sent] of cases) {
      const signed = await signRequest("https://api.example.com/v1/x", { method: "POST", body: b }, {
        keyId: "tok_1",
        key: ed,
        components: ["@method", "@target-uri", "content-type", "content-digest"],
        created: T,
      });
      expect(signed.headers.get("content-type")).toBe(type);
      expect(await signed.clone().text()).toBe(sent);
      expect(await verifyRequest(signed, { resolveKey, now: frozen(T), required: ["content-type", "content-digest"] })).toMatchObject({ ok: true });
    }
  });

  it("bodies that need reading (Blob, FormData, ReadableStream) are read from the Request built, and verify", async () => {
    const bodies: (() => BodyInit)[] = [
      () => new Blob(["blob body"], { type: "text/x-blob" }),
      () => {
        const form = new FormData();
        form.set("a", "1");
        return form;
      },
      () =>
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("streamed"));
            c.close();
          },
        }),
    ];
    for (const make of bodies) {
      const init = { method: "POST", body: make(), duplex: "half" } as RequestInit;
      const signed = await signRequest("https://api.example.com/v1/x", init, { keyId: "tok_1", key: ed, created: T });
      expect(signed.headers.get("content-digest")).toMatch(/^sha-256=:/);
      expect(await verifyRequest(signed, { resolveKey, now: frozen(T) })).toMatchObject({ ok: true });
    }
  });

  it("a body the Request reads otherwise than its internal bytes (shared memory, subclasses, own properties, proxies) is signed for what it sends", async () => {
    const shared = () => {
      const view = new Uint8Array(new SharedArrayBuffer(4));
      view.set([9, 8, 7, 6]);
      return view;
    };
    class Shorter extends Uint8Array {
      override get byteLength() {
        return 1;
      }
    }
    class OtherSlice extends ArrayBuffer {
      override slice() {
        return new Uint8Array([42]).buffer;
      }
    }
    class Counted extends URLSearchParams {
      calls = 0;
      override toString() {
        return `n=${++this.calls}`;
      }
    }
    const bodies: [string, () => unknown][] = [
      ["a view of a SharedArrayBuffer", shared],
      ["a SharedArrayBuffer", () => shared().buffer],
      ["a Uint8Array subclass with its own byteLength", () => new Shorter([1, 2, 3])],
      ["a Uint8Array with an own byteLength", () => Object.defineProperty(new Uint8Array([1, 2, 3]), "byteLength", { get: () => 1 })],
      ["an ArrayBuffer subclass with its own slice", () => new OtherSlice(3)],
      ["an ArrayBuffer with an own slice", () => Object.defineProperty(new ArrayBuffer(3), "slice", { value: () => new ArrayBuffer(1) })],
      ["a URLSearchParams whose toString answers each call differently", () => new Counted()],
      ["a String object", () => new String("héllo")],
      ["a Buffer", () => Buffer.from("buffered")],
    ];
    for (const [name, make] of bodies) {
      const init = { method: "POST", body: make() } as RequestInit;
      let refused: Error | undefined;
      try {
        new Request("https://api.example.com/v1/x", { method: "POST", body: make() } as RequestInit);
      } catch (err) {
        refused = err as Error;
      }
      if (refused !== undefined) {
        // Node 22's Request, as a browser's, refuses shared memory (Node 24's sends the text of its numbers):
        // signRequest throws as the Request it builds does.
        await expect(signRequest("https://api.example.com/v1/x", init, { keyId: "tok_1", key: ed, created: T }), name).rejects.toThrow(refused.message);
        continue;
      }
      const signed = await signRequest("https://api.example.com/v1/x", init, { keyId: "tok_1", key: ed, created: T });
      const sent = new Uint8Array(await signed.clone().arrayBuffer());
      expect({ name, digest: signed.headers.get("content-digest") }).toEqual({ name, digest: computeContentDigest(sent) });
      expect({ name, result: await verifyRequest(signed, { resolveKey, now: frozen(T) }) }).toMatchObject({ name, result: { ok: true } });
    }
  });

  it("a Content-Digest in init.headers is checked against init.body, as for a Request", async () => {
    const init = { method: "POST", body: "{}", headers: { "content-digest": "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:" } };
    await expect(signRequest("https://api.example.com/x", init, { keyId: "tok_1", key: ed })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "body" });
  });

  it("refuses a body option (the body is init.body) and a Request as input", async () => {
    const options = { keyId: "tok_1", key: ed, body: "{}" };
    await expect(signRequest("https://api.example.com/x", { method: "POST", body: "{}" }, options)).rejects.toThrow(TypeError);
    await expect(signRequest(new Request("https://api.example.com/x") as never, {}, { keyId: "tok_1", key: ed })).rejects.toThrow(
      /takes a URL/,
    );
  });

  it("the Request returned follows init.signal", async () => {
    const controller = new AbortController();
    const signed = await signRequest("https://api.example.com/x", { signal: controller.signal }, { keyId: "tok_1", key: ed });
    controller.abort();
    expect(signed.signal.aborted).toBe(true);
  });
});

describe("signRequest(url, init, options) against a real keyward server, sent with the global fetch", () => {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", env: "test" });
  let server: Server;
  let origin: string;
  let keyId: string;
  let seed: Uint8Array;
  beforeAll(async () => {
    const guard = keywardFetch(kw).requireToken({ scope: "core:read" }, async (request) =>
      Response.json({ method: request.method, type: request.headers.get("content-type"), body: await request.text() }),
    );
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      const body = chunks.length === 0 ? null : Buffer.concat(chunks);
      const response = await guard(new Request(`${origin}${req.url}`, { method: req.method, headers, body }));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pair = ed25519KeyPair();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKey } });
    keyId = record.id;
    seed = pair.seed;
  });
  afterAll(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it("every body kind of the fast path (and none) is allowed; the server reads the body the signature covers", async () => {
    const sent = [
      [undefined, "GET", ""],
      ['{"symbol":"X","qty":1}', "POST", '{"symbol":"X","qty":1}'],
      ["unicode é € 😀", "PUT", "unicode é € 😀"],
      [new TextEncoder().encode("bytes\u0000\u00ff"), "POST", "bytes\u0000\u00ff"],
      [new TextEncoder().encode("array buffer").buffer, "PATCH", "array buffer"],
      [new URLSearchParams({ a: "1", b: "é &" }), "POST", "a=1&b=%C3%A9+%26"],
    ] as const;
    for (const [b, m, text] of sent) {
      const signed = await signRequest(`${origin}/v1/prices?symbol=X`, { method: m, body: b as BodyInit | undefined }, {
        keyId,
        key: { alg: "ed25519", privateKey: seed },
        nonce: true,
        // content-type where fetch adds one (a string or URLSearchParams body).
        components: ["@method", "@target-uri", ...(b === undefined ? [] : typeof b === "string" || b instanceof URLSearchParams ? ["content-type", "content-digest"] : ["content-digest"])],
      });
      const response = await fetch(signed);
      expect(response.status, `${m} ${String(b)}`).toBe(200);
      expect(await response.json()).toMatchObject({ method: m, body: text });
    }
  });

  it("a body changed after signing is refused by the server (the digest covers the bytes fetch sends)", async () => {
    const signed = await signRequest(`${origin}/v1/orders`, { method: "POST", body: '{"qty":1}' }, { keyId, key: { alg: "ed25519", privateKey: seed } });
    const tampered = new Request(signed, { body: '{"qty":9}' });
    const response = await fetch(tampered);
    expect(response.status).toBe(401);
  });
});
