// signerFromEnv: keys from the environment; errors name the variable, never its value.
import { inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { signerFromEnv } from "../../src/client/index.js";
import { ConfigError, isKeywardError } from "../../src/errors.js";
import { toBase64, toBase64Url } from "../../src/lib/bytes.js";
import { fakeToken, keyring, verifyAll } from "./helpers.js";

const keys = keyring();
const seed64 = toBase64Url(keys.ed.seed);

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(isKeywardError(err, "INVALID_CONFIG")).toBe(true);
    return err as ConfigError;
  }
  throw new Error("did not throw");
}

describe("signerFromEnv", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("ed25519 from KEYWARD_KEY_ID + KEYWARD_PRIVATE_KEY (alg inferred); signatures verify", async () => {
    const signer = signerFromEnv({ env: { KEYWARD_KEY_ID: keys.ed.keyId, KEYWARD_PRIVATE_KEY: seed64 } });
    expect(signer.toJSON()).toEqual({ keyId: keys.ed.keyId, alg: "ed25519" });
    expect((await verifyAll(await signer.sign(new Request("https://e.com/x?y=1")), keys.resolveKey)).ok).toBe(true);
  });

  it("hmac-sha256 from KEYWARD_TOKEN; values are trimmed; ALG may be explicit", async () => {
    const env = { KEYWARD_KEY_ID: ` ${keys.hmac.keyId}\n`, KEYWARD_ALG: "hmac-sha256", KEYWARD_TOKEN: `${keys.hmac.token}\n` };
    const signer = signerFromEnv({ env });
    expect(signer.alg).toBe("hmac-sha256");
    const signed = await signer.sign(new Request("https://e.com/x", { method: "POST", body: "{}" }));
    expect((await verifyAll(signed, keys.resolveKey)).ok).toBe(true);
  });

  it("reads process.env by default; a custom prefix; standard base64 accepted; settings pass through", async () => {
    vi.stubEnv("ACME_KEY_ID", keys.ed.keyId);
    vi.stubEnv("ACME_ALG", "ed25519");
    vi.stubEnv("ACME_PRIVATE_KEY", toBase64(keys.ed.seed));
    const signer = signerFromEnv({ prefix: "ACME", label: "acme", expiresInSec: 60, now: () => 1_700_000_000_000 });
    const signed = await signer.sign(new Request("https://e.com/"));
    expect(signed.headers.get("signature-input")).toMatch(/^acme=\("@method" "@target-uri"\);created=1700000000;expires=1700000060;/);
    expect((await verifyAll(signed, keys.resolveKey, { now: () => 1_700_000_000_000 })).ok).toBe(true);
  });

  it("the decoded seed does not linger in the signer's renderings", () => {
    const signer = signerFromEnv({ env: { KEYWARD_KEY_ID: keys.ed.keyId, KEYWARD_PRIVATE_KEY: seed64 } });
    for (const text of [JSON.stringify(signer), inspect(signer, { showHidden: true, depth: 10 }), String(signer)]) {
      expect(text).not.toContain(seed64);
    }
  });

  const secretToken = fakeToken();
  const cases: [string, Record<string, string | undefined>, string, RegExp][] = [
    ["nothing set", {}, "KEYWARD_KEY_ID", /^KEYWARD_KEY_ID: is not set$/],
    ["blank key id", { KEYWARD_KEY_ID: "  ", KEYWARD_TOKEN: secretToken }, "KEYWARD_KEY_ID", /is not set/],
    ["no key", { KEYWARD_KEY_ID: "tok_1" }, "KEYWARD_PRIVATE_KEY", /^KEYWARD_PRIVATE_KEY: is not set \(nor KEYWARD_TOKEN\)/],
    [
      "both keys, no alg",
      { KEYWARD_KEY_ID: "tok_1", KEYWARD_PRIVATE_KEY: seed64, KEYWARD_TOKEN: secretToken },
      "KEYWARD_ALG",
      /^KEYWARD_ALG: is not set and both KEYWARD_PRIVATE_KEY and KEYWARD_TOKEN are/,
    ],
    ["alg unknown", { KEYWARD_KEY_ID: "tok_1", KEYWARD_ALG: secretToken, KEYWARD_TOKEN: secretToken }, "KEYWARD_ALG", /^KEYWARD_ALG: must be "ed25519" or "hmac-sha256"$/],
    ["ed25519 without seed", { KEYWARD_KEY_ID: "tok_1", KEYWARD_ALG: "ed25519", KEYWARD_TOKEN: secretToken }, "KEYWARD_PRIVATE_KEY", /is not set \(required when KEYWARD_ALG is ed25519\)/],
    ["hmac without token", { KEYWARD_KEY_ID: "tok_1", KEYWARD_ALG: "hmac-sha256", KEYWARD_PRIVATE_KEY: seed64 }, "KEYWARD_TOKEN", /is not set \(required when KEYWARD_ALG is hmac-sha256\)/],
    ["seed not base64", { KEYWARD_KEY_ID: "tok_1", KEYWARD_PRIVATE_KEY: `${seed64.slice(0, 20)}!${seed64.slice(21)}` }, "KEYWARD_PRIVATE_KEY", /^KEYWARD_PRIVATE_KEY: must be a 32-byte Ed25519 seed, base64url-encoded$/],
    ["seed too short", { KEYWARD_KEY_ID: "tok_1", KEYWARD_PRIVATE_KEY: seed64.slice(0, 40) }, "KEYWARD_PRIVATE_KEY", /must be a 32-byte Ed25519 seed/],
    ["token as key id", { KEYWARD_KEY_ID: secretToken, KEYWARD_TOKEN: secretToken }, "KEYWARD_KEY_ID", /^KEYWARD_KEY_ID: keyId looks like a token/],
    ["key id equals token", { KEYWARD_KEY_ID: "same-value", KEYWARD_TOKEN: "same-value" }, "KEYWARD_KEY_ID", /^KEYWARD_KEY_ID: equals KEYWARD_TOKEN/],
    ["key id not ASCII", { KEYWARD_KEY_ID: "tok_\u00e9", KEYWARD_TOKEN: secretToken }, "KEYWARD_KEY_ID", /printable ASCII/],
  ];

  for (const [name, env, field, message] of cases) {
    it(`${name} → ConfigError naming ${field}, not its value`, () => {
      const err = thrown(() => signerFromEnv({ env }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
      for (const value of [secretToken, seed64, seed64.slice(0, 40), "same-value"]) {
        expect(err.message).not.toContain(value);
        expect(inspect(err)).not.toContain(value);
      }
    });
  }

  it("prefix in messages; argument errors are TypeErrors", () => {
    expect(thrown(() => signerFromEnv({ prefix: "ACME", env: {} })).message).toBe("ACME_KEY_ID: is not set");
    expect(() => signerFromEnv({ prefix: "acme-x" })).toThrow(TypeError);
    expect(() => signerFromEnv({ env: null as never })).toThrow(new TypeError("env must be an object"));
    // Settings errors are the caller's, not the environment's.
    expect(() =>
      signerFromEnv({ env: { KEYWARD_KEY_ID: "tok_1", KEYWARD_PRIVATE_KEY: seed64 }, expiresInSec: -1 }),
    ).toThrow(RangeError);
  });

  it("reads only the variables it needs; one the runtime refuses to read is a ConfigError naming it (Deno without --allow-env for it)", async () => {
    /** An environment that grants `granted` (set or not) and throws, as Deno's NotCapable does, for any other variable. */
    const guarded = (granted: Record<string, string | undefined>) => {
      const reads: string[] = [];
      const env = new Proxy({} as Record<string, string | undefined>, {
        get(_target, name) {
          reads.push(String(name));
          if (typeof name === "string" && Object.hasOwn(granted, name)) return granted[name];
          throw new Error(`Requires env access to "${String(name)}", run again with the --allow-env flag`);
        },
      });
      return { env, reads };
    };
    const ed = guarded({ KEYWARD_KEY_ID: keys.ed.keyId, KEYWARD_ALG: "ed25519", KEYWARD_PRIVATE_KEY: seed64 });
    const edSigner = signerFromEnv({ env: ed.env });
    expect(ed.reads).toEqual(["KEYWARD_KEY_ID", "KEYWARD_ALG", "KEYWARD_PRIVATE_KEY"]);
    expect((await verifyAll(await edSigner.sign(new Request("https://e.com/x")), keys.resolveKey)).ok).toBe(true);
    const hmac = guarded({ KEYWARD_KEY_ID: keys.hmac.keyId, KEYWARD_ALG: "hmac-sha256", KEYWARD_TOKEN: keys.hmac.token });
    const hmacSigner = signerFromEnv({ env: hmac.env });
    expect(hmac.reads).toEqual(["KEYWARD_KEY_ID", "KEYWARD_ALG", "KEYWARD_TOKEN"]);
    expect((await verifyAll(await hmacSigner.sign(new Request("https://e.com/x")), keys.resolveKey)).ok).toBe(true);
    // Refused: the variable is named, as for any other problem with it; the value of none is in the message.
    for (const [granted, field] of [
      [{ KEYWARD_KEY_ID: keys.ed.keyId, KEYWARD_ALG: "ed25519" }, "KEYWARD_PRIVATE_KEY"],
      [{ KEYWARD_KEY_ID: keys.ed.keyId, KEYWARD_PRIVATE_KEY: seed64 }, "KEYWARD_ALG"],
      [{ KEYWARD_KEY_ID: keys.hmac.keyId, KEYWARD_ALG: undefined, KEYWARD_PRIVATE_KEY: seed64 }, "KEYWARD_TOKEN"], // inferring the alg reads both keys
      [{}, "KEYWARD_KEY_ID"],
    ] as const) {
      const err = thrown(() => signerFromEnv({ env: guarded(granted).env }));
      expect([err.field, err.message]).toEqual([field, `${field}: cannot be read`]);
      expect(inspect(err)).not.toContain(seed64);
    }
  });

  it("without a process (as in a browser) it reports the missing variable", () => {
    vi.stubGlobal("process", undefined);
    try {
      expect(thrown(() => signerFromEnv()).field).toBe("KEYWARD_KEY_ID");
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
