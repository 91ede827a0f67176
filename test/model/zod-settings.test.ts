// keyward parses with zod, which an application often uses too, with settings
// of its own (`z.config`: a locale, an error map). keyward's messages are its
// own and in English whatever the application set, and keyward sets nothing:
// zod's English is given to each of keyward's parses, never made global.

import { ConfigError, InvalidInputError, Keyward, MemoryStore } from "keyward";
import { afterEach, describe, expect, it } from "vitest";
import { de } from "zod/locales";
import * as z from "zod/mini";

/** keyward is imported (above, hoisted): what zod's settings were before this file changed them. */
const settingsOnImport = { ...z.config() };

afterEach(() => {
  z.config({ localeError: undefined, customError: undefined });
});

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("did not throw");
}

describe("zod's settings", () => {
  it("are not changed by importing keyward or parsing with it", async () => {
    expect(settingsOnImport.localeError).toBeUndefined();
    expect(settingsOnImport.customError).toBeUndefined();
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    await expect(kw.tokens.create({ owner: "o", kind: "x" as "secret" })).rejects.toThrow(InvalidInputError);
    expect(z.config().localeError).toBeUndefined();
    expect(z.config().customError).toBeUndefined();
  });

  it("of the application (a locale, an error map) leave keyward's messages as they are", async () => {
    z.config({ ...de(), customError: (issue) => (issue.code === "too_small" ? "from the application" : undefined) });
    const config = thrown(() => new Keyward({ store: new MemoryStore(), prefix: "acme", revocationBoundMs: -1 }));
    expect(config).toBeInstanceOf(ConfigError);
    expect(config).toMatchObject({ code: "INVALID_CONFIG", field: "revocationBoundMs", message: "revocationBoundMs: Too small: expected number to be >=0" });

    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    await expect(kw.tokens.create({ owner: "o", kind: "x" as "secret" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "kind",
      message: 'kind: Invalid option: expected one of "publishable"|"secret"',
    });
    await expect(kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: -1, refill: null } })).rejects.toMatchObject({
      field: "credits.limit",
      message: "credits.limit: Too small: expected number to be >=0",
    });
    // keyward's own messages, too.
    await expect(kw.tokens.create({ owner: "", kind: "secret" })).rejects.toMatchObject({ field: "owner", message: "owner: must not be empty" });
  });
});
