// Signed requests (RFC 9421): the client keeps an Ed25519 private key, the
// server stores only the public key, and no secret ever travels.
// Run with `node examples/signed-requests.ts` after `npm run build`.
import { Keyward, MemoryStore } from "keyward";
import { createSigner, generateKeyPair, signedFetch } from "keyward/client";

const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });

// The customer generates a key pair and registers the public key.
const { privateKey, publicKey } = await generateKeyPair();
const { record } = await kw.tokens.create({
  owner: "acct_1",
  kind: "secret",
  requireSignedRequests: true,
  signing: { alg: "ed25519", publicKey },
});

// The API server: any function from Request to Response (here in-process).
async function api(request: Request): Promise<Response> {
  const d = await kw.verify(request, { scope: "core:read" });
  return new Response(d.ok ? "prices" : d.code, { status: d.status, headers: d.headers });
}

// The caller signs every request: method, URL, body digest, created, expires, nonce.
const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey });
const fetchSigned = signedFetch(signer, (input, init) => api(new Request(input, init)));

const res = await fetchSigned("https://api.example.com/v1/prices?symbol=X");
console.log(res.status, await res.text());

// Replaying the very same signed request is refused.
const signed = await signer.sign(new Request("https://api.example.com/v1/prices", { method: "POST", body: "{}" }));
await api(signed.clone());
const replay = await api(signed);
console.log(replay.status, await replay.text());
