// verifyRequest bounds its work before any expensive step: limits on labels,
// components, field and URL sizes, cheap structure checks, and the query and
// each Dictionary field parsed once per message. Work is counted (parses and
// characters given to parsers), not timed.
import fc from "fast-check";
import { type InnerList, type Item, parseDictionary } from "structured-headers";
import { describe, expect, it } from "vitest";
import { type SigningKey, signRequest, type VerifyRequestOptions, verifyRequest } from "../../src/signing/index.js";
import { shapeFailure } from "../../src/signing/shape.js";
import { work } from "../../src/signing/work.js";
import { frozen, SHARED_SECRET } from "./helpers.js";

const T = 1_700_000_000;
const KEY = { alg: "hmac-sha256", secret: SHARED_SECRET } as const satisfies SigningKey;

/** Defaults of verifyRequest, as documented. */
const MAX_HEADER = 8 * 1024;
const MAX_URL = 8 * 1024;
const MAX_STRUCTURED = 1024;
const MAX_PARAMETERS = 96;
const MAX_COVERED = 8 * 1024;

function sign(request: Request, components: string[]) {
  return signRequest(request, { keyid: "k", key: KEY, created: T, components });
}

/** Verifies and returns the result with the parser work it cost. */
async function measured(request: Request, options: Partial<VerifyRequestOptions> = {}) {
  const before = { ...work };
  const result = await verifyRequest(request, { resolveKey: () => KEY, now: frozen(T), ...options });
  return {
    result,
    parses: work.parses - before.parses,
    bytes: work.bytes - before.bytes,
  };
}

const queryParams = (n: number) => Array.from({ length: n }, (_, i) => `q${i}=v${i}`).join("&");
const queryComponents = (n: number) => Array.from({ length: n }, (_, i) => `@query-param;name="q${i}"`);
const keyComponents = (n: number, field = "x-d") => Array.from({ length: n }, (_, i) => `${field};key="k${i}"`);
/** A Dictionary of Items with parameters. */
const dictionary = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=${i};a=1;b="x"`).join(", ");

describe("verifyRequest limits: the reproductions", () => {
  it('285 "@query-param";name="qN" over a 170 KB URL of 20 000 parameters: refused before any parse', async () => {
    const url = `https://api.example.com/p?${queryParams(20_000)}`;
    expect(url.length).toBeGreaterThan(170_000);
    const signed = await sign(new Request(url), ["@method", "@target-uri", ...queryComponents(285)]);
    expect(await measured(signed)).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
    // Within the URL limit, 285 components are still over maxComponents, checked before parsing too.
    const short = await sign(new Request(`https://api.example.com/p?${queryParams(300)}`), ["@method", "@target-uri", ...queryComponents(285)]);
    expect(await measured(short)).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 0 });
  });

  it("the same request with the limits raised parses its query once, not once per component", async () => {
    const url = `https://api.example.com/p?${queryParams(20_000)}`;
    const signed = await sign(new Request(url), ["@method", "@target-uri", ...queryComponents(285)]);
    const m = await measured(signed, { maxUrlBytes: url.length, maxComponents: 300, maxParameters: 300 });
    expect(m.result.ok).toBe(true);
    // Signature-Input, Signature, and the query: three parses, each input read once.
    expect(m.parses).toBe(3);
    const fields = signed.headers.get("signature-input")!.length + signed.headers.get("signature")!.length;
    expect(m.bytes).toBe(fields + new URL(url).search.length);
  });

  it("an 8 KiB query of invalid percent-encoded bytes is read once, in one pass", async () => {
    let query = "";
    while (query.length < MAX_URL - 64) query += `${query ? "&" : ""}%FF%FE=%FF`;
    const url = `https://api.example.com/p?${query}&q0=1`;
    const signed = await sign(new Request(url), ["@method", "@target-uri", ...queryComponents(1)]);
    const m = await measured(signed);
    expect(m.result.ok).toBe(true);
    expect(m.parses).toBe(3);
    expect(m.bytes).toBe(signed.headers.get("signature-input")!.length + signed.headers.get("signature")!.length + new URL(url).search.length);
  });

  it("a covered name that decodes to U+FFFD is not looked for (it would need every escaped name decoded)", async () => {
    // One name decodes to U+FFFD ("%FF"), the others to two of them.
    let query = "%FF=1";
    while (query.length < MAX_URL - 64) query += "&%FE%FD=1";
    const url = `https://api.example.com/p?${query}&x=1`;
    // No signer signs such a name (base.test.ts): a client writes it into Signature-Input itself.
    const signed = await sign(new Request(url), ["@method", "@target-uri", '@query-param;name="x"']);
    signed.headers.set("signature-input", signed.headers.get("signature-input")!.replace('name="x"', 'name="%EF%BF%BD"'));
    expect(await measured(signed)).toMatchObject({ result: { ok: false, code: "SIGNATURE_INVALID" }, parses: 2 });
  });

  it('450 "x-d";key="kN" over a 16 KB Dictionary with parameters: refused before any parse', async () => {
    const dict = dictionary(900);
    expect(dict.length).toBeGreaterThan(16_000);
    const request = new Request("https://api.example.com/p", { headers: { "x-d": dict } });
    const signed = await sign(request, ["@method", "@target-uri", ...keyComponents(450)]);
    expect(await measured(signed)).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 0 });
    // Few components, but the Dictionary is over maxStructuredFieldBytes: refused before the key lookup.
    let looked = false;
    const few = await sign(new Request(request), ["@method", "@target-uri", ...keyComponents(4)]);
    const m = await measured(few, {
      resolveKey: () => {
        looked = true;
        return KEY;
      },
    });
    expect(m).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 2 });
    expect(looked).toBe(false);
  });

  it("the same Dictionary with the limits raised is parsed once, not once per component", async () => {
    const dict = dictionary(900);
    const signed = await sign(new Request("https://api.example.com/p", { headers: { "x-d": dict } }), [
      "@method",
      "@target-uri",
      ...keyComponents(450),
    ]);
    const m = await measured(signed, {
      maxComponents: 452,
      maxParameters: 460,
      maxStructuredFieldBytes: dict.length,
      maxHeaderBytes: 64 * 1024,
    });
    expect(m.result).toMatchObject({ ok: true });
    expect(m.parses).toBe(3);
    const fields = signed.headers.get("signature-input")!.length + signed.headers.get("signature")!.length;
    expect(m.bytes).toBe(fields + dict.length);
  });

  it("a 64 KB URL with 285 components: refused before any parse", async () => {
    const url = `https://api.example.com/p?a=${"x".repeat(64 * 1024)}&${queryParams(285)}`;
    const signed = await sign(new Request(url), ["@method", "@target-uri", ...queryComponents(285)]);
    expect(await measured(signed)).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
  });

  it("labels over maxLabels and fields over maxHeaderBytes: refused before any parse", async () => {
    const signed = await sign(new Request("https://e.com/"), ["@method", "@target-uri"]);
    const input = signed.headers.get("signature-input")!;
    const sig = signed.headers.get("signature")!;
    const nine = (field: string) => Array.from({ length: 9 }, (_, i) => field.replace("sig1", `s${i}`)).join(", ");
    const many = new Request("https://e.com/", { headers: { "signature-input": nine(input), signature: nine(sig) } });
    expect(await measured(many)).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
    expect((await measured(many, { maxLabels: 9 })).result).toMatchObject({ ok: true, label: "s0" });
    const long = new Request("https://e.com/", { headers: { "signature-input": `${input};tag="${"x".repeat(MAX_HEADER)}"`, signature: sig } });
    expect(await measured(long)).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 0 });
  });

  it("parameters over maxParameters in one signature, its own and its components' together: refused before any parse", async () => {
    // 32 components, 30 of them with a name, and the three default parameters: 33, within the default.
    const signed = await sign(new Request(`https://e.com/?${queryParams(30)}`), ["@method", "@target-uri", ...queryComponents(30)]);
    const input = signed.headers.get("signature-input")!;
    const sig = signed.headers.get("signature")!;
    expect((await measured(signed)).result).toMatchObject({ ok: true });
    // Bare extension parameters up to the limit are parsed (Signature-Input, Signature, the query) and, not
    // being signed, fail the signature; one more is refused unread.
    const withParams = (n: number, field = input) => `${field}${Array.from({ length: n }, (_, i) => `;x${i}`).join("")}`;
    const atLimit = new Request(signed.url, { headers: { "signature-input": withParams(MAX_PARAMETERS - 33), signature: sig } });
    expect(await measured(atLimit)).toMatchObject({ result: { code: "SIGNATURE_INVALID" }, parses: 3 });
    const over = new Request(signed.url, { headers: { "signature-input": withParams(MAX_PARAMETERS - 32), signature: sig } });
    expect(await measured(over)).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
    expect((await measured(over, { maxParameters: MAX_PARAMETERS + 1 })).result).toMatchObject({ code: "SIGNATURE_INVALID" });
    // Counted per member: the same parameters spread over two signatures pass the count.
    const second = `${withParams(MAX_PARAMETERS - 33)}, sig2=("@method");created=${T};keyid="k"`;
    expect(await measured(new Request(signed.url, { headers: { "signature-input": second, signature: sig } }))).toMatchObject({
      result: { code: "SIGNATURE_INVALID" },
      parses: 3,
    });
    // And in Signature, on the Byte Sequence: as many as 8 KiB holds (4 000 `;a`) is refused unread.
    const heavy = new Request(signed.url, { headers: { "signature-input": input, signature: withParams(4000, sig).slice(0, MAX_HEADER) } });
    expect(await measured(heavy)).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
  });
});

describe("verifyRequest limits: cheap structure checks", () => {
  it("characters no structured field holds are refused before parsing", async () => {
    for (const bad of ['sig1=("@méthod")', 'sig1=("@method");tag="\u00ff"', 'sig1=("@method")\u007f']) {
      const r = new Request("https://e.com/", { headers: { "signature-input": bad, signature: "sig1=:AAAA:" } });
      expect(await measured(r)).toEqual({ result: { ok: false, code: "SIGNATURE_MALFORMED" }, parses: 0, bytes: 0 });
    }
  });

  it("Signature-Input and Signature are each parsed once, whatever they hold, up to maxHeaderBytes", async () => {
    const signed = await sign(new Request("https://e.com/"), ["@method", "@target-uri"]);
    const input = signed.headers.get("signature-input")!;
    const sig = signed.headers.get("signature")!;
    // A token-valued extension parameter (RFC 9421 §2.3 allows any) as long as the limit lets through:
    // parsed once, and, being in the signature's parameters but not in what was signed, invalid.
    const ext = `${input};ext=${"t".repeat(MAX_HEADER - input.length - 5)}`;
    expect(ext.length).toBe(MAX_HEADER);
    const request = new Request("https://e.com/", { headers: { "signature-input": ext, signature: sig } });
    expect(await measured(request)).toMatchObject({ result: { ok: false, code: "SIGNATURE_INVALID" }, parses: 2, bytes: ext.length + sig.length });
    const over = new Request("https://e.com/", { headers: { "signature-input": `${ext}t`, signature: sig } });
    expect(await measured(over)).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
  });

  it("covered header fields over maxCoveredFieldBytes in total, counted once per component: refused before the key lookup", async () => {
    let looked = 0;
    const resolveKey = () => {
      looked++;
      return KEY;
    };
    const covering = async (size: number, components: string[]) =>
      sign(new Request("https://e.com/", { headers: { "x-big": "v".repeat(size), "x-d": dictionary(3) } }), ["@method", "@target-uri", ...components]);
    expect((await measured(await covering(MAX_COVERED, ["x-big"]), { resolveKey })).result).toMatchObject({ ok: true });
    // One character more, or the same field covered twice (plain and ;bs) at half the size and one more: refused
    // after the two signature fields are parsed, before the key is looked up and the base is built.
    for (const request of [await covering(MAX_COVERED + 1, ["x-big"]), await covering(MAX_COVERED / 2 + 1, ["x-big", "x-big;bs"])]) {
      looked = 0;
      expect(await measured(request, { resolveKey })).toMatchObject({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 2 });
      expect(looked).toBe(0);
    }
    // ;key members are not copied whole: they count in maxStructuredFieldBytes, not here.
    const keyed = await covering(MAX_COVERED, ["x-big", 'x-d;key="k1"', 'x-d;key="k2"']);
    expect((await measured(keyed)).result).toMatchObject({ ok: true });
    // Raised, a 64 KiB field verifies.
    const big = await covering(64 * 1024, ["x-big"]);
    expect((await measured(big, { maxCoveredFieldBytes: 64 * 1024 })).result).toMatchObject({ ok: true });
  });

  it("a Display String holding a backslash hides no label or parameter from the counts, and adds none", async () => {
    // In a Display String a backslash is a character, not an escape: %"\" holds one backslash, and its second quote closes it.
    const signed = await sign(new Request("https://e.com/"), ["@method", "@target-uri"]);
    const input = signed.headers.get("signature-input")!;
    const sig = signed.headers.get("signature")!;
    const request = (value: string) => new Request("https://e.com/", { headers: { "signature-input": value, signature: sig } });
    const junkLabels = Array.from({ length: 11 }, (_, i) => `l${i}`).join(", ");
    expect(await measured(request(`x=%"\\", ${junkLabels}, ${input}`))).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
    const junkParams = Array.from({ length: MAX_PARAMETERS }, (_, i) => `;p${i}`).join("");
    expect(await measured(request(`${input};x=%"\\"${junkParams}`))).toEqual({ result: { ok: false, code: "LIMIT_EXCEEDED" }, parses: 0, bytes: 0 });
    // And a String after it is still a String: its commas separate no members (parsed; x was not signed).
    const tagged = request(`${input};x=%"\\";tag="${Array.from({ length: 9 }, (_, i) => i).join(",")}"`);
    expect(await measured(tagged)).toMatchObject({ result: { code: "SIGNATURE_INVALID" }, parses: 2 });
  });

  it("shapeFailure counts members, Inner List items and parameters exactly as the parser finds them (property)", () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9]{0,3}$/);
    // Text rich in separators and backslashes, which a String escapes and a Display String holds as is.
    const text = fc.oneof(
      fc.string({ maxLength: 6 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
      fc.array(fc.constantFrom("\\", '"', ",", ";", " ", "(", ")", "%", "a"), { maxLength: 6 }).map((cs) => cs.join("")),
    );
    const str = text.map((s) => JSON.stringify(s));
    const display = text.map((s) => `%"${s.replace(/[%"]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}"`);
    const value = fc.oneof(str, display, fc.integer({ min: 0, max: 99 }).map(String), fc.constant("tok"), fc.constant("?1"));
    // Unique keys in each list (the parser keeps one of a repeated key), bare or with a value, spaces or not after ";".
    const params = fc
      .tuple(fc.uniqueArray(fc.tuple(key, fc.option(value)), { maxLength: 3, selector: ([k]) => k }), fc.constantFrom(";", "; ", ";  "))
      .map(([ps, semi]) => ps.map(([k, v]) => `${semi}${k}${v === null ? "" : `=${v}`}`).join(""));
    const item = fc.tuple(fc.oneof(str, display, fc.constant("tok"), fc.constant(":AAAA:")), params).map(([v, p]) => v + p);
    const member = fc.oneof(
      fc.tuple(fc.array(item, { maxLength: 6 }), params).map(([items, p]) => `(${items.join(" ")})${p}`),
      item,
    );
    const paramCount = (m: Item | InnerList) => m[1].size + (Array.isArray(m[0]) ? m[0].reduce((n, i) => n + i[1].size, 0) : 0);
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 6 }),
        fc.array(member, { minLength: 6, maxLength: 6 }),
        fc.nat(6),
        fc.nat(6),
        fc.nat(8),
        (keys, members, maxMembers, maxItems, maxParams) => {
          const text = keys.map((k, i) => `${k}=${members[i]}`).join(", ");
          const dict = parseDictionary(text);
          const most = Math.max(0, ...[...dict.values()].map((m) => (Array.isArray(m[0]) ? m[0].length : 0)));
          const mostParams = Math.max(0, ...[...dict.values()].map(paramCount));
          const over = dict.size > Math.max(1, maxMembers) || most > maxItems || mostParams > maxParams;
          expect(shapeFailure(text, Math.max(1, maxMembers), maxItems, maxParams)).toBe(over ? "LIMIT_EXCEEDED" : null);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("verifyRequest limits: the worst case within the defaults", () => {
  it("costs at most one parse of each field, of the query and of the structured fields, whatever the components", async () => {
    // As much as the defaults let through: a URL of maxUrlBytes full of parameters, 30 @query-param
    // components, and Dictionaries up to maxStructuredFieldBytes in total, each covered by key.
    const path = "https://api.example.com/p?";
    const params = Array.from({ length: 4000 }, (_, i) => `q${i}=1`);
    let query = "";
    for (const p of params) if (path.length + query.length + p.length + 1 <= MAX_URL) query += (query ? "&" : "") + p;
    const url = path + query;
    const half = dictionary(200).slice(0, MAX_STRUCTURED / 2 - 1).replace(/,[^,]*$/, "");
    const request = new Request(url, { headers: { "x-a": half, "x-b": half.replace("k0=", "k00=") } });
    const components = ["@method", "@target-uri", ...queryComponents(27), ...keyComponents(2, "x-a"), `x-b;key="k1"`];
    const signed = await sign(request, components);
    const m = await measured(signed);
    expect(m.result.ok).toBe(true);
    // Two signature fields, the query, two Dictionaries: five parses, whatever the number of components.
    expect(m.parses).toBe(5);
    expect(m.bytes).toBeLessThanOrEqual(2 * MAX_HEADER + MAX_URL + MAX_STRUCTURED);
  });

  it("a field covered with ;sf and ;key is parsed once for each, within maxStructuredFieldBytes in total", async () => {
    const half = dictionary(200).slice(0, MAX_STRUCTURED / 2 - 1).replace(/,[^,]*$/, "");
    const request = new Request("https://api.example.com/p", { headers: { "x-a": half } });
    const signed = await sign(request, ["@method", "@target-uri", "x-a;sf", `x-a;key="k1"`, `x-a;key="k2"`]);
    const m = await measured(signed);
    expect(m.result.ok).toBe(true);
    // Two signature fields, the field for ;sf, the field for ;key (once for both keys).
    expect(m.parses).toBe(4);
    const fields = signed.headers.get("signature-input")!.length + signed.headers.get("signature")!.length;
    expect(m.bytes).toBe(fields + 2 * half.length);
    // Twice the field is over the limit: refused once the signature fields are read, before the field is.
    const twice = await sign(new Request("https://api.example.com/p", { headers: { "x-a": `${half}, ${half.replace(/k(\d)/g, "j$1")}` } }), [
      "@method",
      "@target-uri",
      "x-a;sf",
      `x-a;key="k1"`,
    ]);
    expect(await measured(twice)).toMatchObject({ result: { code: "LIMIT_EXCEEDED" }, parses: 2 });
  });

  it("random component lists within the limits never parse anything twice (property)", async () => {
    const url = `https://api.example.com/p?${queryParams(200)}`;
    const request = new Request(url, { headers: { "x-d": dictionary(40), "x-e": "a=1, b=2" } });
    const component = fc.oneof(
      fc.nat(199).map((i) => `@query-param;name="q${i}"`),
      fc.nat(39).map((i) => `x-d;key="k${i}"`),
      fc.constantFrom('x-e;key="a"', 'x-e;key="b"', "@path", "@query", "@authority", "x-d"),
    );
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(component, { minLength: 1, maxLength: 30 }), async (components) => {
        const m = await measured(await sign(request, ["@method", "@target-uri", ...components]));
        expect(m.result.ok).toBe(true);
        const queries = components.some((c) => c.startsWith("@query-param")) ? 1 : 0;
        const dicts = new Set(components.filter((c) => c.includes(";key")).map((c) => c.split(";")[0])).size;
        expect(m.parses).toBe(2 + queries + dicts);
      }),
      { numRuns: 60 },
    );
  });
});
