// signedFetch: every body kind is buffered, digested, signed and sent; limits; argument checks; real fetch; redirects.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createSigner, type Signer, signedFetch } from "../../src/client/index.js";
import { InvalidInputError, Keyward, MemoryStore } from "../../src/index.js";
import { utf8 } from "../../src/lib/bytes.js";
import { computeContentDigest, signatureHeaders, signRequest } from "../../src/signing/index.js";
import { type ApiServer, signatureVerifier, startApiServer } from "../browser/server.js";
import { bytesOf, ed25519KeyPair, keyring, verifyAll } from "./helpers.js";

const keys = keyring();
const edSigner = createSigner({ keyId: keys.ed.keyId, alg: "ed25519", privateKey: keys.ed.seed });
const hmacSigner = createSigner({ keyId: keys.hmac.keyId, alg: "hmac-sha256", token: keys.hmac.token });
const API = "https://api.example.com/v1/items";

/** A fetchImpl that records the signed Request and answers 204. */
function recorder() {
  const seen: Request[] = [];
  const impl = vi.fn(async (request: Request) => {
    seen.push(request);
    return new Response(null, { status: 204 });
  });
  return { seen, impl };
}

function streamOf(parts: string[], onCancel?: () => void): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < parts.length) controller.enqueue(utf8(parts[i++]!));
      else controller.close();
    },
    cancel: onCancel,
  });
}

const json = JSON.stringify({ symbol: "X", qty: 3 });
const bytes = utf8("\u0000binary\u00ff payload");

// body → expected bytes on the wire, and expected content-type prefix (null: none).
const BODIES: [string, () => BodyInit, Uint8Array | null, string | null][] = [
  ["string", () => json, utf8(json), "text/plain;charset=UTF-8"],
  ["Uint8Array", () => new Uint8Array(bytes), bytes, null],
  ["ArrayBuffer", () => bytes.slice().buffer, bytes, null],
  ["DataView", () => new DataView(bytes.slice().buffer), bytes, null],
  ["Blob", () => new Blob([json], { type: "application/json" }), utf8(json), "application/json"],
  ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "x y" }), utf8("a=1&b=x+y"), "application/x-www-form-urlencoded"],
  ["FormData", () => formData(), null, "multipart/form-data; boundary="],
  ["ReadableStream", () => streamOf(["{\"sym", "bol\":", "\"X\"}"]), utf8('{"symbol":"X"}'), null],
];

function formData(): FormData {
  const f = new FormData();
  f.set("name", "prices");
  f.set("file", new Blob(["a,b\n1,2\n"], { type: "text/csv" }), "prices.csv");
  return f;
}

describe("signedFetch: bodies", () => {
  for (const [name, signer] of [
    ["ed25519", edSigner],
    ["hmac-sha256", hmacSigner],
  ] as const) {
    for (const [kind, body, expected, type] of BODIES) {
      it(`${name}: ${kind} body is sent as bytes, digested, signed and verifies`, async () => {
        const { seen, impl } = recorder();
        const res = await signedFetch(signer, impl)(API, { method: "POST", body: body() });
        expect(res.status).toBe(204);
        expect(seen).toHaveLength(1);
        const sent = seen[0]!;
        expect(sent.method).toBe("POST");
        expect(sent.url).toBe(API);
        const wire = await bytesOf(sent.clone());
        if (expected !== null) expect(wire).toEqual(expected);
        if (type === null) expect(sent.headers.get("content-type")).toBeNull();
        else expect(sent.headers.get("content-type")).toMatch(new RegExp(`^${type.replace(/[+]/g, "\\+")}`));
        if (kind === "FormData") {
          // The multipart boundary in Content-Type is the one in the body.
          const boundary = sent.headers.get("content-type")!.split("boundary=")[1]!;
          expect(new TextDecoder().decode(wire)).toContain(`--${boundary}`);
          expect((await sent.clone().formData()).get("name")).toBe("prices");
        }
        expect(sent.headers.get("content-digest")).toBe(computeContentDigest(wire));
        expect(await verifyAll(sent, keys.resolveKey)).toMatchObject({
          ok: true,
          keyid: signer.keyId,
          alg: signer.alg,
          components: ["@method", "@target-uri", "content-digest"],
        });
      });
    }
  }

  it("a stream with duplex given explicitly, and a Request input with a stream body", async () => {
    const { seen, impl } = recorder();
    const f = signedFetch(edSigner, impl);
    await f(API, { method: "PUT", body: streamOf(["a", "b"]), duplex: "half" } as RequestInit);
    await f(new Request(API, { method: "PATCH", body: streamOf(["c", "d"]), duplex: "half" } as RequestInit));
    expect(await seen[0]!.clone().text()).toBe("ab");
    expect(await seen[1]!.clone().text()).toBe("cd");
    for (const sent of seen) expect((await verifyAll(sent, keys.resolveKey)).ok).toBe(true);
  });

  it("GET: URL objects, Request inputs and init headers; no Content-Digest without a body", async () => {
    const { seen, impl } = recorder();
    const f = signedFetch(hmacSigner, impl);
    await f(new URL(`${API}?symbol=X&limit=10`), { headers: { accept: "application/json" } });
    await f(new Request(`${API}?page=2`, { headers: { "x-trace": "t1" } }));
    await f(`${API}?q=1`, { method: "DELETE" });
    expect(seen.map((r) => [r.method, r.url])).toEqual([
      ["GET", `${API}?symbol=X&limit=10`],
      ["GET", `${API}?page=2`],
      ["DELETE", `${API}?q=1`],
    ]);
    expect(seen[0]!.headers.get("accept")).toBe("application/json");
    expect(seen[1]!.headers.get("x-trace")).toBe("t1");
    for (const sent of seen) {
      expect(sent.headers.has("content-digest")).toBe(false);
      expect((await verifyAll(sent, keys.resolveKey)).ok).toBe(true);
    }
  });

  it("each call gets its own nonce", async () => {
    const { seen, impl } = recorder();
    const f = signedFetch(edSigner, impl);
    await Promise.all(Array.from({ length: 10 }, () => f(API)));
    const nonces = seen.map((r) => /nonce="([^"]+)"/.exec(r.headers.get("signature-input")!)![1]);
    expect(new Set(nonces).size).toBe(10);
  });

  it("fetch's own errors surface unchanged (a GET with a body)", async () => {
    const { impl } = recorder();
    await expect(signedFetch(edSigner, impl)(API, { method: "GET", body: "x" })).rejects.toThrow(TypeError);
    expect(impl).not.toHaveBeenCalled();
  });
});

describe("signedFetch: maxBodyBytes", () => {
  it("a stream larger than the limit is refused before sending, and cancelled", async () => {
    const { impl } = recorder();
    const cancel = vi.fn();
    const parts = Array.from({ length: 100 }, () => "x".repeat(100));
    const f = signedFetch(edSigner, impl, { maxBodyBytes: 1000 });
    await expect(f(API, { method: "POST", body: streamOf(parts, cancel) })).rejects.toThrow(
      new RangeError("request body is larger than maxBodyBytes (1000 bytes)"),
    );
    expect(impl).not.toHaveBeenCalled();
    expect(cancel).toHaveBeenCalled();
  });

  it("applies to every body kind; exactly the limit passes", async () => {
    const { seen, impl } = recorder();
    const f = signedFetch(edSigner, impl, { maxBodyBytes: 4 });
    await expect(f(API, { method: "POST", body: "12345" })).rejects.toThrow(RangeError);
    await expect(f(API, { method: "POST", body: new Blob(["12345"]) })).rejects.toThrow(RangeError);
    await f(API, { method: "POST", body: "1234" });
    await f(API, { method: "POST", body: streamOf(["12", "34"]) });
    expect(seen).toHaveLength(2);
  });

  it("defaults to 10 MiB", async () => {
    const { impl } = recorder();
    const f = signedFetch(hmacSigner, impl);
    await f(API, { method: "POST", body: new Uint8Array(10 * 1024 * 1024) });
    await expect(f(API, { method: "POST", body: new Uint8Array(10 * 1024 * 1024 + 1) })).rejects.toThrow(
      new RangeError(`request body is larger than maxBodyBytes (${10 * 1024 * 1024} bytes)`),
    );
    expect(impl).toHaveBeenCalledTimes(1);
  });
});

describe("signedFetch: arguments", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("checks its arguments eagerly", () => {
    expect(() => signedFetch(null as unknown as Signer)).toThrow(new TypeError("signer must have a sign(request) method (see createSigner)"));
    expect(() => signedFetch({} as Signer)).toThrow(TypeError);
    expect(() => signedFetch(edSigner, "fetch" as never)).toThrow(new TypeError("fetchImpl must be a function"));
    expect(() => signedFetch(edSigner, undefined, { maxBodyBytes: -1 })).toThrow(
      new RangeError("maxBodyBytes must be a non-negative integer"),
    );
    expect(() => signedFetch(edSigner, undefined, { maxBodyBytes: 1.5 })).toThrow(RangeError);
    expect(() => signedFetch(edSigner, undefined, { crossOriginRedirects: "follow" as never })).toThrow(
      new TypeError('crossOriginRedirects must be "error" or "unsigned"'),
    );
    vi.stubGlobal("fetch", undefined);
    expect(() => signedFetch(edSigner)).toThrow(new TypeError("no global fetch in this runtime: pass fetchImpl"));
  });

  it("uses the global fetch by default, looked up at call time", async () => {
    const f = signedFetch(edSigner);
    const { seen, impl } = recorder();
    vi.stubGlobal("fetch", impl);
    expect((await f(API)).status).toBe(204);
    expect(seen[0]!.headers.has("signature")).toBe(true);
  });

  it("fetchImpl may be fetch-shaped or take just the Request", async () => {
    const { seen, impl } = recorder();
    await signedFetch(edSigner, (input, init) => impl(new Request(input, init)))(API);
    await signedFetch(edSigner, (request: Request) => impl(request))(API);
    expect(seen).toHaveLength(2);
    for (const sent of seen) expect((await verifyAll(sent, keys.resolveKey)).ok).toBe(true);
  });

  it("accepts any object with a compatible sign()", async () => {
    const { seen, impl } = recorder();
    const custom = { sign: async (r: Request) => new Request(r, { headers: { "x-signed": "yes" } }) };
    await signedFetch(custom, impl)(API);
    expect(seen[0]!.headers.get("x-signed")).toBe("yes");
  });
});

describe("signedFetch: over the network with Node's fetch", () => {
  let server: ApiServer;
  beforeAll(async () => {
    server = await startApiServer({ verify: signatureVerifier(keys.resolveKey) });
  });
  afterAll(() => server.close());

  for (const signer of [edSigner, hmacSigner]) {
    it(`${signer.alg}: GET with a query, POST JSON, POST stream (no duplex given), all verified by the server`, async () => {
      const f = signedFetch(signer);
      const get = await f(`${server.url}/api/prices?symbol=X&limit=10`);
      expect(get.status).toBe(200);
      expect(await get.json()).toMatchObject({ ok: true, keyid: signer.keyId, alg: signer.alg });
      const post = await f(`${server.url}/api/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: json,
      });
      expect(await post.json()).toMatchObject({ ok: true, keyid: signer.keyId, body: json });
      const stream = await f(`${server.url}/api/upload`, { method: "PUT", body: streamOf(["line 1\n", "line 2\n"]) });
      expect(await stream.json()).toMatchObject({ ok: true, body: "line 1\nline 2\n" });
    });
  }

  it("a stream whose chunks are not bytes (ArrayBuffer, string) rejects with a TypeError, cancelled and unsent, as fetch refuses it; other views are sent as their bytes", async () => {
    const calls = server.calls.length;
    const f = signedFetch(edSigner);
    // Left open when a cancel is expected (a closed stream has nothing to cancel).
    const of = (chunks: unknown[], onCancel?: () => void) =>
      new ReadableStream({
        start(c: ReadableStreamDefaultController<unknown>) {
          for (const chunk of chunks) c.enqueue(chunk);
          if (onCancel === undefined) c.close();
        },
        cancel: onCancel,
      }) as ReadableStream<Uint8Array>;
    for (const chunks of [[utf8("ab").buffer, utf8("c").buffer], ["ab", "c"], ["abc"]]) {
      const cancel = vi.fn();
      await expect(f(`${server.url}/api/upload`, { method: "PUT", body: of(chunks, cancel) })).rejects.toThrow(TypeError);
      expect(cancel).toHaveBeenCalled();
    }
    expect(server.calls.length).toBe(calls);
    const views = of([new DataView(utf8("xab").buffer, 1, 2), new Uint16Array(utf8("cd").buffer)]);
    const res = await f(`${server.url}/api/upload`, { method: "PUT", body: views });
    expect(await res.json()).toMatchObject({ ok: true, body: "abcd" });
  });

  it("a URL with a fragment: the signature covers the target URI without it, as fetch sends it, and verifies", async () => {
    for (const signer of [edSigner, hmacSigner]) {
      const f = signedFetch(signer);
      for (const url of [`${server.url}/api/prices?symbol=X#top`, `${server.url}/api/prices#`, `${server.url}/api/prices?#a?b=1`]) {
        const res = await f(url);
        // The server sees the URL without the fragment (and without an empty query's "?" under Node 22's fetch).
        const sent = url.slice(0, url.indexOf("#"));
        expect([url, res.status, await res.json()]).toMatchObject([url, 200, { ok: true, url: expect.toBeOneOf([sent, sent.replace(/\?$/, "")]) }]);
      }
      const post = await f(new Request(`${server.url}/api/orders#frag`, { method: "POST", body: json }));
      expect(await post.json()).toMatchObject({ ok: true, body: json });
    }
  });

  it("a URL object whose text changes from one read to the next (a subclass with getters) is read once: the signature covers the URL sent, and verifies", async () => {
    let reads = 0;
    /** Its first read names /api/prices?n=1, every later one another path (a check made on it, then the URL sent). */
    class Shifting extends URL {
      override toString() {
        return `${server.url}/api/${reads++ === 0 ? "prices?n=1" : "orders?n=2"}`;
      }
      override get href() {
        return this.toString();
      }
    }
    const wrapped = { sign: (request: Request, options?: { body?: Uint8Array }) => edSigner.sign(request, options) };
    const sends: [string, () => Promise<Response>][] = [
      ["signedFetch", () => signedFetch(edSigner)(new Shifting(server.url), { method: "POST", body: json })],
      ["signedFetch, another signer object", () => signedFetch(wrapped)(new Shifting(server.url), { method: "POST", body: json })],
      ["signRequest(url, init, options)", async () => fetch(await signRequest(new Shifting(server.url), { method: "POST", body: json }, { key: { alg: "ed25519", privateKey: keys.ed.seed }, keyId: keys.ed.keyId, nonce: true, expires: Math.floor(Date.now() / 1000) + 300 }))],
    ];
    for (const [how, send] of sends) {
      reads = 0;
      const res = await send();
      expect([how, reads, res.status, await res.json()]).toMatchObject([how, 1, 200, { ok: true, url: `${server.url}/api/prices?n=1`, body: json }]);
    }
  });

  it("a Content-Digest the caller set is signed only if it is the digest of the body sent; otherwise nothing is sent", async () => {
    const f = signedFetch(edSigner);
    const url = `${server.url}/api/orders`;
    // Matching (here sha-512 only, not the signer's sha-256): kept, signed, verified by the server.
    const kept = await f(url, { method: "POST", body: json, headers: { "content-digest": computeContentDigest(json, ["sha-512"]) } });
    expect(await kept.json()).toMatchObject({ ok: true, body: json });
    expect(server.calls.at(-1)!.verdict).toMatchObject({ ok: true });
    const before = server.calls.length;
    // A received Request forwarded with another body (its digest came along), a stale or hand-set field,
    // one with no algorithm keyward knows, one that does not parse: each refused before sending.
    const incoming = new Request(url, { method: "POST", body: '{"qty":1}', headers: { "content-digest": computeContentDigest('{"qty":1}') } });
    const cases: [string, Promise<Response>][] = [
      ["forwarded, body overridden", f(incoming, { body: '{"qty":2}' })],
      ["stale", f(url, { method: "POST", body: "hello", headers: { "content-digest": `sha-256=:${"A".repeat(43)}=:` } })],
      ["sha-256 right, sha-512 wrong", f(url, { method: "POST", body: "hello", headers: { "content-digest": `${computeContentDigest("hello")}, ${computeContentDigest("bye", ["sha-512"])}` } })],
      ["unknown algorithm only", f(url, { method: "POST", body: "hello", headers: { "content-digest": "md5=:XUFAKrxLKna5cZ2REBfFkg==:" } })],
      ["malformed", f(url, { method: "POST", body: "hello", headers: { "content-digest": "sha-256=not-bytes" } })],
    ];
    for (const [name, call] of cases) {
      const err = await call.catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).code, name).toBe("INVALID_INPUT");
      expect((err as InvalidInputError).field, name).toBe("body");
    }
    expect(server.calls.length).toBe(before);
    // Without the stale field, the forwarded request goes out with the digest of its new body.
    const headers = new Headers(incoming.headers);
    headers.delete("content-digest");
    expect(await (await f(incoming, { body: '{"qty":2}', headers })).json()).toMatchObject({ ok: true, body: '{"qty":2}' });
  });

  it("the server refuses a replay and a tampered request", async () => {
    const signed = await edSigner.sign(new Request(`${server.url}/api/orders`, { method: "POST", body: json }));
    expect((await fetch(signed.clone())).status).toBe(200);
    expect(await (await fetch(signed.clone())).json()).toMatchObject({ ok: false, code: "REPLAYED" });
    const tampered = new Request(signed.url, { method: "POST", headers: signed.headers, body: json.replace("3", "4") });
    expect(await (await fetch(tampered)).json()).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
    expect(server.calls.at(-1)!.verdict).toEqual({ ok: false, code: "DIGEST_MISMATCH" });
  });

  it("signatureHeaders (docs): the fields fit the Request they were computed from; a FormData serialized again by fetch(url, init) does not", async () => {
    const key = { alg: "hmac-sha256", secret: keys.hmac.secret } as const;
    const fieldsOf = (request: Request) =>
      signatureHeaders(request, { keyId: keys.hmac.keyId, key, expires: Math.floor(Date.now() / 1000) + 60, nonce: true, params: ["created", "expires", "nonce", "keyid", "alg"] });
    const url = `${server.url}/api/upload`;
    for (const body of [() => formData(), () => streamOf(["a", "b"])]) {
      const request = new Request(url, { method: "POST", body: body(), duplex: "half" } as RequestInit);
      for (const [name, value] of Object.entries(await fieldsOf(request))) request.headers.set(name, value);
      expect(await (await fetch(request)).json()).toMatchObject({ ok: true });
    }
    const init = { method: "POST", headers: new Headers(), body: formData() };
    for (const [name, value] of Object.entries(await fieldsOf(new Request(url, init)))) init.headers.set(name, value);
    expect(await (await fetch(url, init)).json()).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
  });
});

/** A stream body that sends one chunk, then stalls; `cancelled` resolves with the reason it is cancelled with. */
function stalledStream(): { stream: ReadableStream<Uint8Array>; cancelled: Promise<unknown> } {
  let onCancel!: (reason: unknown) => void;
  const cancelled = new Promise<unknown>((resolve) => {
    onCancel = resolve;
  });
  const stream = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(utf8("part 1")),
    cancel: (reason) => onCancel(reason),
  });
  return { stream, cancelled };
}

describe("signedFetch: the call's signal bounds the body read, as with fetch (real server, Node's fetch)", () => {
  let server: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    server = await listen((_req, res) => void res.end("ok"));
  });
  afterAll(() => {
    server?.server.closeAllConnections();
    server?.server.close();
  });
  /** What a call settles with: the error it rejects with, or the status. */
  const settled = (call: Promise<Response>) => call.then((r) => r.status, (e: unknown) => e);

  it("aborted while a stream body stalls: rejects with the signal's reason (an AbortError) like fetch, cancels the stream, sends nothing", async () => {
    const controller = new AbortController();
    const { stream, cancelled } = stalledStream();
    const call = settled(signedFetch(edSigner)(`${server.url}/upload`, { method: "POST", body: stream, signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    const err = await call;
    expect([err instanceof DOMException, (err as DOMException).name]).toEqual([true, "AbortError"]);
    expect(err).toBe(controller.signal.reason);
    expect(await cancelled).toBe(err);
    expect(server.seen).toEqual([]);
  });

  it("AbortSignal.timeout: rejects with its TimeoutError", async () => {
    const { stream, cancelled } = stalledStream();
    const err = await settled(signedFetch(hmacSigner)(`${server.url}/upload`, { method: "PUT", body: stream, signal: AbortSignal.timeout(50) }));
    expect([err instanceof DOMException, (err as DOMException).name]).toEqual([true, "TimeoutError"]);
    expect(await cancelled).toBe(err);
  });

  it("a signal already aborted, also on a Request input: rejects with its reason, the body is cancelled unread, nothing is sent", async () => {
    const reason = new Error("caller gave up");
    const before = server.seen.length;
    const first = stalledStream();
    const aborted = AbortSignal.abort(reason);
    expect(await settled(signedFetch(edSigner)(`${server.url}/upload`, { method: "POST", body: first.stream, signal: aborted }))).toBe(reason);
    expect(await first.cancelled).toBe(reason);
    const second = stalledStream();
    const input = new Request(`${server.url}/upload`, { method: "POST", body: second.stream, duplex: "half", signal: aborted } as RequestInit);
    expect(await settled(signedFetch(edSigner)(input))).toBe(reason);
    expect(await second.cancelled).toBe(reason);
    expect(server.seen.length).toBe(before);
  });

  it("a signal that aborts after the body has been read changes nothing: the request goes out and is answered", async () => {
    const controller = new AbortController();
    const res = await signedFetch(edSigner)(`${server.url}/upload`, { method: "POST", body: streamOf(["a", "b"]), signal: controller.signal });
    controller.abort();
    expect([res.status, server.seen.at(-1)!.body]).toEqual([200, "ab"]);
  });
});

/** What a server on 127.0.0.1 received. */
interface Received {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A node:http server on 127.0.0.1 answering with `handle`; every request it receives is kept. */
async function listen(handle: (req: Received, res: ServerResponse) => void | Promise<void>): Promise<{ url: string; seen: Received[]; server: Server }> {
  const seen: Received[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += String(chunk);
    const received = { method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers, body };
    seen.push(received);
    await handle(received, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

describe("signedFetch: redirects, against real servers with Node's fetch", () => {
  // The API: a real Keyward verifying every request under /v2 (signed requests required); redirects elsewhere.
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", env: "test" });
  let api: Awaited<ReturnType<typeof listen>>;
  let other: Awaited<ReturnType<typeof listen>>;
  let keyId: string;
  let seed: Uint8Array;
  beforeAll(async () => {
    // The other origin answers "other", or, for /bounce/<path>, sends the client back to <path> on the API (307).
    other = await listen((req, res) => {
      if (!req.path.startsWith("/bounce/")) return void res.end("other");
      res.writeHead(307, { location: `${api.url}${req.path.slice("/bounce".length)}` });
      res.end();
    });
    api = await listen(async (req, res) => {
      const [, route, status, ...rest] = req.path.split("/");
      const tail = `/${rest.join("/")}`;
      if (route === "redirect") {
        // /redirect/<status>/<path>: to <path> on this origin; /redirect/<status>/away: to the other origin;
        // /redirect/<status>/bounce/<path>: to the other origin, which sends the client back to <path> here.
        const location = tail === "/away" ? `${other.url}/capture` : tail === "/ftp" ? "ftp://127.0.0.1/x" : tail.startsWith("/bounce/") ? `${other.url}${tail}` : tail;
        res.writeHead(Number(status), { location });
        return void res.end("moved");
      }
      if (route === "utf8") {
        // A Location in raw UTF-8, not percent-encoded, as some servers send it (Node writes a header's string as Latin-1).
        res.writeHead(302, { location: status === "latin1" ? "/v2/\u00e9" : Buffer.from("/v2/é ü?q=ß").toString("latin1") });
        return void res.end();
      }
      if (route === "bom") {
        // A Location whose raw UTF-8 starts with a byte order mark, which is no BOM to a URL parser.
        res.writeHead(302, { location: Buffer.from("\ufeff/v2/x").toString("latin1") });
        return void res.end();
      }
      if (route === "chain") {
        const n = Number(status);
        res.writeHead(302, { location: n === 0 ? "/v2/end" : `/chain/${n - 1}` });
        return void res.end();
      }
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const url = `${api.url}${req.path}`;
      const d = await kw.verify(new Request(url, { method: req.method, headers, body: req.body === "" ? null : req.body }), { scope: "core:read" });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: d.ok, code: d.code, method: req.method, path: req.path, body: req.body, type: req.headers["content-type"] ?? null }));
    });
    const pair = ed25519KeyPair();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKey } });
    keyId = record.id;
    seed = pair.seed;
  });
  afterAll(() => {
    for (const s of [api?.server, other?.server]) s?.closeAllConnections();
    api?.server.close();
    other?.server.close();
  });
  const client = (options?: Parameters<typeof signedFetch>[2]) => signedFetch(createSigner({ keyId, alg: "ed25519", privateKey: seed }), undefined, options);
  const nonceOf = (r: Received) => /nonce="([^"]+)"/.exec(String(r.headers["signature-input"]))?.[1];

  it("same origin, 307 and 308: method and body kept, the request signed anew for its new URL (a new nonce)", async () => {
    for (const status of [307, 308]) {
      const before = api.seen.length;
      const res = await client()(`${api.url}/redirect/${status}/v2/x?q=1`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"qty":1}' });
      expect(await res.json()).toEqual({ ok: true, code: "OK", method: "POST", path: "/v2/x?q=1", body: '{"qty":1}', type: "application/json" });
      const [first, second] = api.seen.slice(before);
      expect(nonceOf(first!)).not.toBe(nonceOf(second!));
    }
  });

  it("a Location in raw UTF-8 is followed where Node's fetch (and browsers) follow it, read as UTF-8, not Latin-1", async () => {
    const expected = `${api.url}/v2/%C3%A9%20%C3%BC?q=%C3%9F`;
    expect((await fetch(`${api.url}/utf8`)).url).toBe(expected);
    const res = await client()(`${api.url}/utf8`);
    expect(res.url).toBe(expected);
    expect(await res.json()).toMatchObject({ ok: true, path: "/v2/%C3%A9%20%C3%BC?q=%C3%9F" });
    // Bytes that are not UTF-8 (é in Latin-1): read as Latin-1.
    expect(await (await client()(`${api.url}/utf8/latin1`)).json()).toMatchObject({ ok: true, path: "/v2/%C3%A9" });
    // A leading U+FEFF is part of the URL (percent-encoded), not a byte order mark to drop.
    const bom = `${api.url}/%EF%BB%BF/v2/x`;
    expect((await fetch(`${api.url}/bom`)).url).toBe(bom);
    expect((await client()(`${api.url}/bom`)).url).toBe(bom);
  });

  it("303, and 301 / 302 after a POST: a GET without the body or its fields (a caller's Content-Digest and Content-Length too); 302 after a PUT keeps both", async () => {
    const fields = { "content-type": "application/json", "content-digest": computeContentDigest("{}"), "content-length": "2" };
    for (const [status, method] of [[303, "POST"], [303, "PUT"], [301, "POST"], [302, "POST"]] as const) {
      const res = await client()(`${api.url}/redirect/${status}/v2/result`, { method, headers: fields, body: "{}" });
      const seen = api.seen.at(-1)!;
      expect(await res.json(), `${status} ${method}`).toEqual({ ok: true, code: "OK", method: "GET", path: "/v2/result", body: "", type: null });
      expect(seen.headers["content-digest"]).toBeUndefined();
      expect(seen.headers["content-length"]).toBeUndefined();
    }
    const put = await client()(`${api.url}/redirect/302/v2/result`, { method: "PUT", body: "kept" });
    expect(await put.json()).toMatchObject({ ok: true, method: "PUT", body: "kept" });
  });

  it("another origin: rejected by default, and nothing (no signature, header or body) reaches it", async () => {
    const f = client();
    await expect(f(`${api.url}/redirect/307/away`, { method: "POST", body: "secret-body", headers: { "x-api-key": "k" } })).rejects.toThrow(
      new TypeError(`redirect to another origin (${other.url}) not followed: see crossOriginRedirects`),
    );
    await expect(f(`${api.url}/redirect/302/away`)).rejects.toThrow(TypeError);
    expect(other.seen).toEqual([]);
  });

  it('another origin with crossOriginRedirects: "unsigned": sent as fetch would, without Signature, Signature-Input, Content-Digest, nor the credentials Node\'s fetch drops there', async () => {
    const headers = { "x-api-key": "k", authorization: "Bearer acme_sk_test_x", cookie: "session=s3cr3t", "proxy-authorization": "Basic cHJveHk6cGFzcw==" };
    // Node's own fetch, for comparison: Authorization, Cookie and Proxy-Authorization stay behind.
    await (await fetch(`${api.url}/redirect/307/away`, { method: "POST", body: "the-body", headers })).text();
    const res = await client({ crossOriginRedirects: "unsigned" })(`${api.url}/redirect/307/away`, { method: "POST", body: "the-body", headers });
    expect(await res.text()).toBe("other");
    const [byFetch, bySignedFetch] = other.seen.slice(-2);
    for (const at of [byFetch!, bySignedFetch!]) {
      expect(at).toMatchObject({ method: "POST", path: "/capture", body: "the-body", headers: { "x-api-key": "k" } });
      for (const name of ["signature", "signature-input", "content-digest", "authorization", "cookie", "proxy-authorization"]) {
        expect(at.headers[name], name).toBeUndefined();
      }
    }
    other.seen.length = 0;
  });

  it('crossOriginRedirects: "unsigned": once the chain has left the origin, a redirect back to it is not signed (the other origin chose the URL)', async () => {
    const before = api.seen.length;
    const res = await client({ crossOriginRedirects: "unsigned" })(`${api.url}/redirect/307/bounce/v2/transfer?to=mallory`, {
      method: "POST",
      body: '{"amount":100}',
    });
    // The API's verifier saw no signature: kw.verify refuses the request (a token requiring signed requests; none sent).
    expect(await res.json()).toMatchObject({ ok: false, code: "TOKEN_MISSING", method: "POST", path: "/v2/transfer?to=mallory" });
    const back = api.seen.slice(before);
    expect(back.map((r) => r.path)).toEqual(["/redirect/307/bounce/v2/transfer?to=mallory", "/v2/transfer?to=mallory"]);
    expect(back[0]!.headers.signature).toBeDefined();
    for (const name of ["signature", "signature-input", "content-digest"]) expect(back[1]!.headers[name], name).toBeUndefined();
    other.seen.length = 0;
  });

  it("a followed redirect keeps the request's options, as fetch does: cache, credentials, keepalive, mode, referrer, referrer policy", async () => {
    const sent: Request[] = [];
    const f = signedFetch(createSigner({ keyId, alg: "ed25519", privateKey: seed }), (r) => {
      sent.push(r);
      return fetch(r);
    });
    const options = { cache: "no-store", credentials: "omit", keepalive: true, mode: "same-origin", referrer: `${api.url}/page`, referrerPolicy: "no-referrer" } as const;
    const res = await f(`${api.url}/redirect/307/redirect/302/v2/x`, { method: "PUT", body: "kept", ...options });
    expect(await res.json()).toMatchObject({ ok: true, method: "PUT", path: "/v2/x", body: "kept" });
    expect(sent.map((r) => new URL(r.url).pathname)).toEqual(["/redirect/307/redirect/302/v2/x", "/redirect/302/v2/x", "/v2/x"]);
    for (const r of sent) {
      const { cache, credentials, keepalive, mode, referrer, referrerPolicy } = r;
      expect({ cache, credentials, keepalive, mode, referrer, referrerPolicy }, r.url).toEqual(options);
    }
  });

  it("follows 20 redirects, as fetch does, and rejects the 21st; a Location that is not http(s) rejects", async () => {
    expect(await (await client()(`${api.url}/chain/19`)).json()).toMatchObject({ ok: true, path: "/v2/end" });
    const before = api.seen.length;
    await expect(client()(`${api.url}/chain/20`)).rejects.toThrow(new TypeError("too many redirects"));
    expect(api.seen.length - before).toBe(21);
    await expect(client()(`${api.url}/redirect/302/ftp`)).rejects.toThrow(new TypeError("redirect to a URL that is not http(s)"));
  });

  // URL-form bodies (signed in place, digested from init.body) and those read from the Request, as sent by the caller.
  const KINDS: [string, () => BodyInit, string | null][] = [
    ["string", () => '{"qty":1}', '{"qty":1}'],
    ["Uint8Array", () => new Uint8Array(bytes), new TextDecoder().decode(bytes)],
    ["ArrayBuffer", () => bytes.slice().buffer, new TextDecoder().decode(bytes)],
    ["DataView", () => new DataView(bytes.slice().buffer, 1, 6), "binary"],
    ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "x y" }), "a=1&b=x+y"],
    ["Blob", () => new Blob(["blob-body"]), "blob-body"],
    ["FormData", () => formData(), null],
    ["ReadableStream", () => streamOf(["str", "eam"]), "stream"],
  ];

  it("every body kind, sent directly, after a 307 and a 308 (body kept, signed anew) and a 303 (a GET without it), verifies on the server", async () => {
    for (const [kind, body, text] of KINDS) {
      for (const route of ["", "/redirect/307", "/redirect/308", "/redirect/303"]) {
        const res = await client()(`${api.url}${route}/v2/x?k=${kind}`, { method: "POST", body: body() });
        const got = (await res.json()) as { ok: boolean; method: string; path: string; body: string };
        const toGet = route.endsWith("303");
        expect({ ...got, body: undefined }, `${kind} ${route}`).toMatchObject({ ok: true, method: toGet ? "GET" : "POST", path: `/v2/x?k=${kind}` });
        if (toGet) expect(got.body).toBe("");
        else if (text === null) expect(got.body).toContain('name="file"; filename="prices.csv"');
        else expect(got.body, `${kind} ${route}`).toBe(text);
      }
    }
  });

  it("a URL with a string, bytes, URLSearchParams or no body is sent as the one Request built from it, signed in place; other bodies and signers as before", async () => {
    const signer = createSigner({ keyId, alg: "ed25519", privateKey: seed });
    let built = 0;
    vi.stubGlobal(
      "Request",
      class extends Request {
        constructor(input: RequestInfo | URL, init?: RequestInit) {
          super(input, init);
          built++;
        }
      },
    );
    try {
      const counts: number[] = [];
      const count = (s: Pick<Signer, "sign">) =>
        signedFetch(s, (r: Request) => {
          counts.push(built);
          return fetch(r);
        });
      const calls: [Pick<Signer, "sign">, RequestInit | undefined][] = [
        [signer, { method: "POST", body: '{"qty":1}' }],
        [signer, { method: "PUT", body: new Uint8Array(bytes) }],
        [signer, { method: "POST", body: new URLSearchParams({ a: "1" }) }],
        [signer, undefined],
        [signer, { method: "POST", body: formData() }],
        [{ sign: (r, o) => signer.sign(r, o) }, { method: "POST", body: '{"qty":1}' }],
      ];
      const oks: boolean[] = [];
      for (const [s, init] of calls) {
        built = 0;
        oks.push(((await (await count(s)(`${api.url}/v2/x`, init)).json()) as { ok: boolean }).ok);
      }
      expect(oks).toEqual(calls.map(() => true));
      // Each call's Requests when its first (and only) hop is sent: the one built; three for a body read, or another signer.
      expect(counts).toEqual([1, 1, 1, 1, 3, 3]);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("the first hop signed in place equals the one signed as before (a signer wrapped in another object): URL, method, fields, signature, body, options", async () => {
    const now = Date.now();
    const options = { cache: "no-store", credentials: "omit", keepalive: true, mode: "same-origin", referrer: `${api.url}/page`, referrerPolicy: "no-referrer" } as const;
    const signal = new AbortController().signal;
    const inits: (() => RequestInit | undefined)[] = [
      () => undefined,
      () => ({ headers: { accept: "application/json", "x-trace": "t1" }, ...options, signal }),
      () => ({ method: "POST", body: '{"qty":1}', headers: { "content-type": "application/json" }, ...options }),
      () => ({ method: "PUT", body: new Uint8Array(bytes), redirect: "manual" }),
      () => ({ method: "PATCH", body: new DataView(bytes.slice().buffer, 1, 6), redirect: "error", integrity: "" }),
      () => ({ method: "POST", body: bytes.slice().buffer, headers: { "content-digest": computeContentDigest(bytes) } }),
      () => ({ method: "POST", body: new URLSearchParams({ a: "1", b: "x y" }), referrerPolicy: "origin" }),
      () => ({ method: "DELETE", body: "" }),
    ];
    const view = async (r: Request) => {
      const { url, method, redirect, cache, credentials, mode, referrer, referrerPolicy, keepalive, integrity } = r;
      const body = r.body === null ? null : new TextDecoder().decode(await r.clone().arrayBuffer());
      return { url, method, headers: [...r.headers], body, redirect, cache, credentials, mode, referrer, referrerPolicy, keepalive, integrity, aborted: r.signal.aborted };
    };
    const nonceOrSignature = /nonce="[^"]+"|sig1=:[^:]+:/g;
    // With a nonce, as the server requires: both verify, and differ in the nonce and signature only.
    // Without (one clock): the same fields, signature bytes included (the server refuses both alike).
    for (const nonce of [true, false]) {
      const signer = createSigner({ keyId, alg: "ed25519", privateKey: seed, nonce, now: () => now });
      const wrapped: Pick<Signer, "sign"> = { sign: (r, o) => signer.sign(r, o) };
      for (const [i, init] of inits.entries()) {
        const sent: Awaited<ReturnType<typeof view>>[] = [];
        const answers: unknown[] = [];
        for (const s of [signer, wrapped]) {
          const f = signedFetch(s, async (r: Request) => {
            sent.push(await view(r));
            return fetch(r);
          });
          answers.push(await (await f(`${api.url}/v2/x?case=${i}`, init())).json());
        }
        const [url, request] = nonce ? sent.map((v) => ({ ...v, headers: v.headers.map(([n, value]) => [n, value.replace(nonceOrSignature, "…")]) })) : sent;
        expect(url!.headers.map(([n]) => n), `case ${i}`).toContain("signature");
        expect(url, `case ${i}, nonce ${nonce}`).toEqual(request);
        expect(answers[0], `case ${i}, nonce ${nonce}`).toEqual(answers[1]);
        expect(answers[0], `case ${i}, nonce ${nonce}`).toMatchObject(nonce ? { ok: true } : { ok: false, code: "SIGNATURE_INVALID" });
      }
    }
  });

  it("bytes the caller changes after the call are not what a 307 sends again: the body as it was when the call began", async () => {
    const body = new Uint8Array(bytes);
    const call = client()(`${api.url}/redirect/307/v2/x`, { method: "POST", body });
    body.fill(0x41);
    expect(await (await call).json()).toMatchObject({ ok: true, method: "POST", body: new TextDecoder().decode(bytes) });
  });

  it("a signal already aborted, with a string body: rejects with its reason before the size limit, and nothing is sent", async () => {
    const before = api.seen.length;
    const reason = new Error("caller gave up");
    const signal = AbortSignal.abort(reason);
    await expect(client({ maxBodyBytes: 1 })(`${api.url}/v2/x`, { method: "POST", body: "too long", signal })).rejects.toBe(reason);
    await expect(client()(`${api.url}/v2/x`, { method: "POST", body: new Uint8Array(bytes), signal })).rejects.toBe(reason);
    await expect(client()(`${api.url}/v2/x`, { signal })).rejects.toBe(reason);
    expect(api.seen.length).toBe(before);
  });

  it('redirect: "manual" answers the 3xx as fetch does, and "error" rejects; neither goes further', async () => {
    const before = api.seen.length;
    const manual = await client()(`${api.url}/redirect/307/v2/x`, { redirect: "manual" });
    expect([manual.status, manual.headers.get("location")]).toEqual([307, "/v2/x"]);
    await expect(client()(`${api.url}/redirect/307/v2/x`, { redirect: "error" })).rejects.toThrow(TypeError);
    expect(api.seen.slice(before).map((r) => r.path)).toEqual(["/redirect/307/v2/x", "/redirect/307/v2/x"]);
  });
});
