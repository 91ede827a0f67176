// The server side the CLI tests check against: keyward over the same SQLite file.
import { Keyward as KeywardClass } from "keyward";
import { sqliteStore } from "keyward/sqlite";

export const Keyward = {
  async open(path: string, prefix: string, sealingKey?: string) {
    const store = sqliteStore(path);
    return { store, kw: new KeywardClass({ store, prefix, revocationBoundMs: 0, sealingKey }) };
  },
};

/** `"ok"`, or the denial code of a signed request checked against the file's tokens. */
export async function verifyRequestSignature(path: string, request: Request, sealingKey?: string): Promise<string> {
  const { store, kw } = await Keyward.open(path, "acme", sealingKey);
  try {
    const d = await kw.verify(request);
    return d.ok ? "ok" : d.code;
  } finally {
    await kw.close();
    await store.close();
  }
}
