// GitHub's side of secret scanning alerts, on 127.0.0.1: locally generated P-256 signing keys, alerts
// signed as GitHub signs them, and a node:http server for a Fetch handler (the receiver, or GitHub's key list).
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { GitHubPublicKey } from "keyward/leaks";

export function keyPair(id: string): { publicKey: GitHubPublicKey; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { publicKey: { key_identifier: id, key: publicKey.export({ type: "spki", format: "pem" }).toString() }, privateKey };
}

export const github = keyPair("90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a");
export const other = keyPair("f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d");

/** An alert as GitHub sends it: the body signed with ECDSA P-256 / SHA-256, DER, base64. */
export function alert(body: string, key = github, headers: Record<string, string> = {}): Request {
  return new Request("https://api.acme.test/leaks/github", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": key.publicKey.key_identifier,
      "github-public-key-signature": sign("sha256", Buffer.from(body), key.privateKey).toString("base64"),
      ...headers,
    },
    body,
  });
}

/** A Fetch handler served by node:http on 127.0.0.1. */
export async function listen(handler: (request: Request) => Promise<Response>): Promise<{ url: string; close: () => Promise<unknown> }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const method = req.method ?? "GET";
    const body = method === "GET" || method === "HEAD" ? null : Buffer.concat(chunks);
    const answer = await handler(new Request(`http://localhost${req.url}`, { method, headers, body }));
    res.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Sends `request` (built for another origin) to `url`. */
export async function send(url: string, request: Request): Promise<Response> {
  return fetch(url, { method: request.method, headers: request.headers, body: await request.text() });
}

/** One match of an alert, in GitHub's documented shape. */
export const match = (token: string, extra = {}) => ({
  token,
  type: "acme_secret_token",
  url: "https://github.com/octocat/hello/blob/12345600b9cbe38a219f39a9941c9319b600c002/.env",
  source: "content",
  ...extra,
});
