// An attacker's alerts to the GitHub receiver, over a real node:http server: forged and malformed signatures,
// duplicated and oversized headers, huge and hostile bodies. Nothing is read past the limit, nothing is
// looked up in the store before the signature verifies, and no answer before then says anything of a token.
import { sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { Keyward, MemoryStore, type TokenStore } from "keyward";
import { createLeakReceiver } from "keyward/leaks";
import { describe, expect, it } from "vitest";
import { alert, github, listen, match, other, send } from "../support/github-alerts.js";

/** P-256's group order (FIPS 186-4 D.1.2.3). */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** A MemoryStore that counts every call made on it once `counting` is set. */
function countingStore() {
  const calls: string[] = [];
  const state = { counting: false };
  const store = new Proxy(new MemoryStore(), {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (state.counting) calls.push(String(name));
        return value.apply(target, args);
      };
    },
  }) as TokenStore;
  return { store, calls, state };
}

/** The DER signature (r, s) as bytes; `pad` adds a needless leading zero to r (BER, not DER). */
function der(r: bigint, s: bigint, { pad = false, longForm = false } = {}): Buffer {
  const int = (v: bigint, extra: boolean) => {
    let hex = v.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    let bytes = Buffer.from(hex, "hex");
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    if (extra) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([int(r, pad), int(s, false)]);
  return Buffer.concat([Buffer.from(longForm ? [0x30, 0x81, body.length] : [0x30, body.length]), body]);
}

function parseDer(sig: Buffer): [bigint, bigint] {
  const rLen = sig[3]!;
  const r = BigInt(`0x${sig.subarray(4, 4 + rLen).toString("hex")}`);
  const s = BigInt(`0x${sig.subarray(6 + rLen).toString("hex")}`);
  return [r, s];
}

async function setup() {
  const { store, calls, state } = countingStore();
  const kw = new Keyward({ store, prefix: "acme" });
  const live = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
  const notified: unknown[] = [];
  const receiver = createLeakReceiver({ keyward: kw, publicKeys: [github.publicKey], onLeak: (r) => void notified.push(r) });
  state.counting = true;
  return { kw, live, receiver, calls, notified };
}

describe("createLeakReceiver under attack", () => {
  it("forged alerts of 1 000 tokens each, live or not: 401 with one body, no store call, nothing revoked (real server)", async () => {
    const { kw, live, receiver, calls } = await setup();
    const server = await listen(receiver);
    const post = (request: Request) => send(`${server.url}/leaks/github`, request);
    const liveBody = JSON.stringify(Array.from({ length: 1000 }, () => match(live.token)));
    const deadBody = JSON.stringify(Array.from({ length: 1000 }, (_, i) => match(`acme_sk_live_${i}`)));
    const signed = alert("[]").headers.get("github-public-key-signature")!;
    const [r, s] = parseDer(Buffer.from(signed, "base64"));
    try {
      const answers: [string, number, string][] = [];
      for (const body of [liveBody, deadBody]) {
        const forged: [string, Request][] = [
          ["unknown key id", alert(body, other)],
          ["known id, other key", alert(body, { publicKey: github.publicKey, privateKey: other.privateKey })],
          ["signature over other bytes", alert(body, github, { "github-public-key-signature": signed })],
          ["high-S of a signature over other bytes", alert(body, github, { "github-public-key-signature": der(r, N - s).toString("base64") })],
          ["r = 0", alert(body, github, { "github-public-key-signature": der(0n, s).toString("base64") })],
          ["s = n", alert(body, github, { "github-public-key-signature": der(r, N).toString("base64") })],
          ["not base64", alert(body, github, { "github-public-key-signature": "%%%" })],
          ["duplicated signature header", alert(body, github, { "github-public-key-signature": `${signed}, ${signed}` })],
          ["oversized signature header", alert(body, github, { "github-public-key-signature": "A".repeat(12_000) })],
          ["duplicated key id", alert(body, github, { "github-public-key-identifier": `${github.publicKey.key_identifier}, ${github.publicKey.key_identifier}` })],
        ];
        for (const [what, request] of forged) {
          const res = await post(request);
          answers.push([what, res.status, await res.text()]);
        }
      }
      for (const [what, status] of answers) expect([what, status]).toEqual([what, 401]);
      // The answers to forged alerts of live tokens and of unknown ones are the same, byte for byte.
      const half = answers.length / 2;
      expect(answers.slice(0, half).map(([, , t]) => t)).toEqual(answers.slice(half).map(([, , t]) => t));
      expect(answers.some(([, , t]) => t.includes(live.token))).toBe(false);
      expect(calls).toEqual([]);
      expect((await kw.check({ token: live.token })).ok).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("BER and other non-DER encodings of a valid signature are refused; its high-S twin verifies but a replay acts on nothing again", async () => {
    const { kw, live, receiver, calls, notified } = await setup();
    const body = JSON.stringify([match(live.token)]);
    const genuine = alert(body);
    const [r, s] = parseDer(Buffer.from(genuine.headers.get("github-public-key-signature")!, "base64"));
    const withSig = (sig: Buffer | string) => alert(body, github, { "github-public-key-signature": typeof sig === "string" ? sig : sig.toString("base64") });
    for (const sig of [der(r, s, { pad: true }), der(r, s, { longForm: true }), Buffer.concat([der(r, s), Buffer.from([0])])]) {
      expect((await receiver(withSig(sig))).status).toBe(401);
    }
    expect(calls).toEqual([]);
    const first = await receiver(genuine);
    expect(first.status).toBe(200);
    const labels = await first.json();
    const acted = calls.length;
    // The same body under the other valid signature of it (s → n − s): GitHub signed that body; it is a replay.
    const twin = await receiver(withSig(der(r, N - s)));
    expect([twin.status, await twin.json()]).toEqual([200, labels]);
    expect(calls).toHaveLength(acted);
    expect(notified).toHaveLength(1);
    expect((await kw.check({ token: live.token })).code).toBe("TOKEN_REVOKED");
  });

  it("a body over maxBodyBytes is read no further than the limit; under a key id not held, not at all (streamed, real server)", async () => {
    const limit = 64 * 1024;
    const small = createLeakReceiver({ keyward: new Keyward({ store: new MemoryStore(), prefix: "acme" }), publicKeys: [github.publicKey], maxBodyBytes: limit });
    let pulled = 0;
    const server = createServer(async (req, res) => {
      const counted = (Readable.toWeb(req) as ReadableStream<Uint8Array>).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            pulled += chunk.byteLength;
            controller.enqueue(chunk);
          },
        }),
      );
      const headers = new Headers(req.headers as Record<string, string>);
      const answer = await small(new Request(`http://localhost${req.url}`, { method: req.method, headers, body: counted, duplex: "half" } as RequestInit));
      res.writeHead(answer.status, { connection: "close" }).end(await answer.text());
      req.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/leaks/github`;
    /** 64 MiB of "[", sent as the server asks for it. */
    const huge = () => {
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 64 * 1024 * 1024) return controller.close();
          sent += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x5b));
        },
      });
    };
    const post = async (headers: Headers) => {
      pulled = 0;
      const res = await fetch(url, { method: "POST", headers, body: huge(), duplex: "half" } as RequestInit).catch(() => null);
      return [res?.status ?? "reset", pulled] as const;
    };
    try {
      const signedHeaders = alert("[]").headers;
      const [status, bytes] = await post(signedHeaders);
      expect(status).toBe(413);
      expect(bytes).toBeLessThanOrEqual(limit + 64 * 1024);
      const unknown = new Headers(signedHeaders);
      unknown.set("github-public-key-identifier", "attacker-chosen");
      const [status2, bytes2] = await post(unknown);
      expect([status2, bytes2]).toEqual([401, 0]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("signed but hostile bodies: deep nesting, not JSON, not UTF-8 are 400; other services' tokens and duplicates cost no extra store work", async () => {
    const { kw, live, receiver, calls, notified } = await setup();
    for (const body of ["[".repeat(500_000), "{".repeat(500_000), "not json", `[${JSON.stringify(match("x"))}`, "\u0000"]) {
      expect((await receiver(alert(body))).status).toBe(400);
    }
    const bytes = Buffer.from([0x5b, 0xff, 0xfe, 0x5d]); // [ and two bytes that are not UTF-8 ]
    const sig = sign("sha256", bytes, github.privateKey).toString("base64");
    const res = await receiver(new Request("https://api.acme.test/leaks/github", { method: "POST", headers: { "github-public-key-identifier": github.publicKey.key_identifier, "github-public-key-signature": sig }, body: bytes }));
    expect(res.status).toBe(400);
    expect(calls).toEqual([]);

    // Tokens of other services' prefixes: false_positive, and no store lookup.
    const foreign = ["ghp_0123456789abcdefghijABCDEFGHIJ012345", "sk_live_51H0123456789abcdefghijklmnop", "xoxb-1234-5678-abcdef", "AKIAIOSFODNN7EXAMPLE"];
    const answer = await receiver(alert(JSON.stringify(foreign.map((t) => match(t)))));
    expect((await answer.json()).map((l: { label: string }) => l.label)).toEqual(Array(4).fill("false_positive"));
    expect(calls).toEqual([]);

    // One live token listed 1 000 times: revoked once, its owner told once, one audit entry.
    const dup = await receiver(alert(JSON.stringify(Array.from({ length: 1000 }, () => match(live.token)))));
    const labels = (await dup.json()) as { label: string }[];
    expect([dup.status, labels.length, new Set(labels.map((l) => l.label))]).toEqual([200, 1000, new Set(["true_positive"])]);
    expect(notified).toHaveLength(1);
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "leak")).toHaveLength(1);
  });

  it("a key endpoint answering garbage: forged alerts under random key ids are 503 (never acted on) and cost one fetch per refreshIntervalMs (real key endpoint)", async () => {
    const { kw, live, calls } = await setup();
    const garbage = [
      () => new Response("<html>rate limited</html>", { status: 200 }),
      () => Response.json({ public_keys: "x" }),
      () => Response.json({ public_keys: Array.from({ length: 2000 }, (_, i) => ({ key_identifier: `k${i}`, key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" })) }),
    ];
    for (const endpoint of garbage) {
      let fetches = 0;
      const meta = await listen(async () => {
        fetches++;
        return endpoint();
      });
      const errors: unknown[] = [];
      const receiver = createLeakReceiver({
        keyward: kw,
        // As docs/leaks.md loads them.
        publicKeys: async (signal) => {
          const res = await fetch(`${meta.url}/meta/public_keys/secret_scanning`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) });
          if (!res.ok) throw new Error(`GitHub keys: ${res.status}`);
          return (await res.json()).public_keys;
        },
        onKeyError: (e) => void errors.push(e),
      });
      const server = await listen(receiver);
      try {
        const body = JSON.stringify([match(live.token)]);
        const forged = (i: number) => send(`${server.url}/leaks/github`, alert(body, github, { "github-public-key-identifier": `attacker-${i}` }));
        const statuses = (await Promise.all(Array.from({ length: 100 }, (_, i) => forged(i)))).map((r) => r.status);
        expect(new Set(statuses)).toEqual(new Set([503]));
        for (let i = 0; i < 50; i++) expect((await forged(i)).status).toBe(503);
        expect(fetches).toBe(1);
        expect(errors.length).toBeGreaterThanOrEqual(1);
      } finally {
        await server.close();
        await meta.close();
      }
    }
    expect(calls).toEqual([]);
    expect((await kw.check({ token: live.token })).ok).toBe(true);
  });
});
