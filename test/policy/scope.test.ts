import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileScopes,
  isValidScope,
  isWriteOrDeleteScope,
  MAX_SCOPE_LENGTH,
  missingScope,
  parseScope,
  requiredScopesProblem,
  scopeGrants,
  scopesGrant,
} from "../../src/policy/scope.js";
import * as reference from "./reference/scope.js";
import { cpuClock } from "../support/cpu.js";

describe("parseScope", () => {
  it.each([
    ["core:read", ["core"], "read"],
    ["premium:read", ["premium"], "read"],
    ["datasets/prices:write", ["datasets", "prices"], "write"],
    ["datasets/*:read", ["datasets", "*"], "read"],
    ["datasets/a.b_C-9/x:delete", ["datasets", "a.b_C-9", "x"], "delete"],
    ["*:*", ["*"], "*"],
    ["core:read_all-2", ["core"], "read_all-2"],
  ])("accepts %s", (s, path, action) => {
    expect(parseScope(s)).toEqual({ path, action });
    expect(isValidScope(s)).toBe(true);
  });

  it.each([
    "",
    "core",
    "core:",
    ":read",
    "core:read:x",
    "core:READ",
    "core:re*",
    "data*:read",
    "datasets/pri*:read",
    "datasets/**:read",
    "datasets//x:read",
    "/datasets:read",
    "datasets/:read",
    "core :read",
    "core:read ",
    "cöre:read",
    "core\n:read",
    // RFC 3986 §3.3 dot segments, anywhere in the path.
    ".:read",
    "..:read",
    "datasets/.:read",
    "datasets/..:read",
    "datasets/foo/../bar:read",
    "datasets/foo/./bar:read",
    `${"a".repeat(MAX_SCOPE_LENGTH - 4)}:read`,
  ])("refuses %j", (s) => {
    expect(parseScope(s)).toBeNull();
    expect(isValidScope(s)).toBe(false);
  });

  it("accepts exactly MAX_SCOPE_LENGTH characters", () => {
    expect(isValidScope(`${"a".repeat(MAX_SCOPE_LENGTH - 5)}:read`)).toBe(true);
  });

  it.each([null, undefined, 1, {}, [], Symbol("x"), { toString: () => "core:read" }])("refuses non-string %s", (s) => {
    expect(parseScope(s)).toBeNull();
    expect(isValidScope(s)).toBe(false);
  });
});

describe("scopeGrants", () => {
  it.each([
    // granted, required, expected
    ["core:read", "core:read", true],
    ["core:*", "core:read", true],
    ["core:read", "core:write", false],
    ["datasets/prices:write", "datasets/prices:read", false],
    ["datasets/*:read", "datasets/prices:read", true],
    ["datasets/*:read", "datasets/prices:write", false],
    ["datasets/*:*", "datasets/prices:delete", true],
    ["datasets/*:read", "datasets:read", false],
    ["datasets/*:read", "datasets/a/b:read", true],
    ["datasets/*:read", "datasets/a/b/c/d:read", true],
    ["datasets/*:read", "datasets/a/b:write", false],
    ["*:*", "datasets/prices:write", true],
    ["*:*", "a/b/c/d/e:delete", true],
    ["*:read", "datasets/prices/2024:read", true],
    ["*:read", "datasets/prices:write", false],
    ["*/prices:read", "eu/prices:read", true],
    ["*/prices:read", "eu/x/prices:read", false],
    ["*/prices:read", "eu/prices/x:read", false],
    ["datasets/*/rows:read", "datasets/a/b/rows:read", false],
    ["datasets/*/*:read", "datasets/a/b/c:read", true],
    ["datasets/*/*:read", "datasets/a:read", false],
    ["datasets:read", "datasets/prices:read", false],
    ["*:read", "core:read", true],
    ["*:read", "datasets/prices:read", true],
    ["*/*:read", "datasets/prices:read", true],
    ["datasets/prices:read", "datasets/*:read", false],
    ["datasets/*:read", "datasets/*:read", true],
    ["datasets/*:*", "datasets/*:read", true],
    ["core:read", "core:*", false],
    ["core:*", "core:*", true],
    ["Datasets/x:read", "datasets/x:read", false],
    ["premium:read", "core:read", false],
    ["core:read", "core:read ", false],
    ["core:re*", "core:read", false],
    ["", "", false],
  ])("%s grants %s: %s", (granted, required, expected) => {
    expect(scopeGrants(granted, required)).toBe(expected);
    expect(scopesGrant([granted], required)).toBe(expected);
    expect(compileScopes([granted])(required)).toBe(expected);
  });

  it("any-of over a list", () => {
    const granted = ["core:read", "premium:read", "datasets/prices:write"];
    expect(scopesGrant(granted, "premium:read")).toBe(true);
    expect(scopesGrant(granted, "datasets/prices:write")).toBe(true);
    expect(scopesGrant(granted, "datasets/prices:read")).toBe(false);
    expect(scopesGrant([], "core:read")).toBe(false);
    expect(compileScopes([])("core:read")).toBe(false);
  });

  it("invalid entries in a list grant nothing", () => {
    expect(scopesGrant(["bad", "core:read"], "core:read")).toBe(true);
    expect(compileScopes(["bad", "core:read"])("bad")).toBe(false);
    expect(compileScopes([1 as unknown as string, "*:*"])("core:read")).toBe(true);
    expect(compileScopes(null as unknown as string[])("core:read")).toBe(false);
    expect(scopesGrant(null as unknown as string[], "core:read")).toBe(false);
    expect(compileScopes(["core:read"])(undefined as unknown as string)).toBe(false);
  });
});

describe("isWriteOrDeleteScope", () => {
  it.each([
    ["core:read", false],
    ["datasets/*:read", false],
    ["datasets/prices:write", true],
    ["datasets/prices:delete", true],
    ["core:*", true],
    ["core:admin", true],
    ["not a scope", true],
  ])("%s → %s", (s, expected) => {
    expect(isWriteOrDeleteScope(s)).toBe(expected);
  });
});

// --- properties ---------------------------------------------------------------

const NUM_RUNS = 5_000;
const segChars = fc.constantFrom(..."abcXYZ019_.-");
/** A valid segment: never a dot segment (`.`, `..`), which no scope may hold. */
const segment = fc.string({ unit: segChars, minLength: 1, maxLength: 6 }).filter((s) => s !== "." && s !== "..");
const actionWord = fc.string({ unit: fc.constantFrom(..."abrwz09_-"), minLength: 1, maxLength: 6 });
const scope = fc
  .record({ path: fc.array(segment, { minLength: 1, maxLength: 4 }), action: actionWord })
  .map(({ path, action }) => `${path.join("/")}:${action}`);
/** A scope with some segments and maybe the action replaced by `*`. */
const wildScope = fc
  .record({
    path: fc.array(fc.oneof(segment, fc.constant("*")), { minLength: 1, maxLength: 4 }),
    action: fc.oneof(actionWord, fc.constant("*")),
  })
  .map(({ path, action }) => `${path.join("/")}:${action}`);
/** Strings close to the grammar, so that grants are sometimes true. */
const nearScope = fc.oneof(scope, wildScope, fc.string({ unit: fc.constantFrom(..."a*/:_.-"), maxLength: 12 }));

describe("scope properties", () => {
  it("a valid scope grants itself", () => {
    fc.assert(
      fc.property(fc.oneof(scope, wildScope), (s) => {
        expect(scopeGrants(s, s)).toBe(true);
        expect(compileScopes([s])(s)).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a scope never grants a different action (unless its action is *)", () => {
    fc.assert(
      fc.property(wildScope, wildScope, (g, r) => {
        const pg = parseScope(g)!;
        const pr = parseScope(r)!;
        if (pg.action !== "*" && pg.action !== pr.action) expect(scopeGrants(g, r)).toBe(false);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a wildcard before the last segment never crosses a segment boundary", () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 2, maxLength: 4 }),
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        actionWord,
        fc.integer({ min: 0, max: 2 }),
        (path, extra, action, at) => {
          const i = at % (path.length - 1);
          const granted = [...path];
          granted[i] = "*";
          // Replacing one segment by several (joined with "/") must not match.
          const required = [...path];
          required.splice(i, 1, ...extra, "x");
          expect(scopeGrants(`${granted.join("/")}:${action}`, `${required.join("/")}:${action}`)).toBe(false);
          // …while exactly one segment does.
          expect(scopeGrants(`${granted.join("/")}:${action}`, `${path.join("/")}:${action}`)).toBe(true);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("a trailing wildcard covers one or more segments at every depth, never zero", () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 0, maxLength: 3 }),
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        actionWord,
        (prefix, rest, action) => {
          const granted = `${[...prefix, "*"].join("/")}:${action}`;
          expect(scopeGrants(granted, `${[...prefix, ...rest].join("/")}:${action}`)).toBe(true);
          expect(compileScopes([granted])(`${[...prefix, ...rest].join("/")}:${action}`)).toBe(true);
          expect(scopeGrants("*:*", `${[...prefix, ...rest].join("/")}:${action}`)).toBe(true);
          if (prefix.length > 0) expect(scopeGrants(granted, `${prefix.join("/")}:${action}`)).toBe(false);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("grants agree with a segment-by-segment reference", () => {
    fc.assert(
      fc.property(wildScope, wildScope, (g, r) => {
        const pg = parseScope(g)!;
        const pr = parseScope(r)!;
        expect(scopeGrants(g, r)).toBe(grantsBySegments(pg, pr));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("scopeGrants, scopesGrant and compileScopes agree", () => {
    fc.assert(
      fc.property(fc.array(nearScope, { maxLength: 6 }), nearScope, (granted, required) => {
        const expected = granted.some((g) => scopeGrants(g, required));
        expect(scopesGrant(granted, required)).toBe(expected);
        expect(compileScopes(granted)(required)).toBe(expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("random input never throws and invalid strings never grant", () => {
    fc.assert(
      fc.property(fc.anything(), fc.oneof(fc.string(), nearScope), (x, s) => {
        expect(() => parseScope(x)).not.toThrow();
        expect(() => isWriteOrDeleteScope(x as string)).not.toThrow();
        const matcher = compileScopes([s, x as string]);
        expect(() => matcher(x as string)).not.toThrow();
        if (!isValidScope(s)) {
          expect(scopeGrants(s, "core:read")).toBe(false);
          expect(scopeGrants("*:*", s)).toBe(false);
        }
        expect(scopeGrants(x as string, s)).toBe(isValidScope(x) && isValidScope(s) && scopeGrants(x as string, s));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("long input is refused quickly", () => {
    const long = `${"a/".repeat(500_000)}a:read`;
    const cpu = cpuClock();
    expect(parseScope(long)).toBeNull();
    expect(compileScopes(["*:*"])(long)).toBe(false);
    expect(cpu()).toBeLessThan(50);
  });
});

describe("dot segments (RFC 3986 §3.3)", () => {
  it("no wildcard grants a dot segment, and none can be granted", () => {
    for (const granted of ["datasets/*:read", "*:*", "*/*:read", "datasets/*/*:read", "*/*/*:*"]) {
      for (const required of ["datasets/..:read", "datasets/.:read", "datasets/foo/../bar:read", "..:read", "./x:read"]) {
        expect(scopeGrants(granted, required)).toBe(false);
        expect(compileScopes([granted])(required)).toBe(false);
      }
    }
    // Held dot segments grant nothing, even to themselves.
    expect(compileScopes(["datasets/..:read"])("datasets/..:read")).toBe(false);
    expect(scopesGrant(["datasets/.:read"], "datasets/.:read")).toBe(false);
  });

  it("segments that merely contain dots are still names", () => {
    expect(isValidScope("datasets/.../x:read")).toBe(true);
    expect(isValidScope("datasets/.hidden:read")).toBe(true);
    expect(isValidScope("datasets/v1.2:read")).toBe(true);
    expect(scopeGrants("datasets/*:read", "datasets/.hidden:read")).toBe(true);
  });
});

/**
 * The grammar of docs/scopes.md, written plainly: a trailing `*` covers one
 * or more segments, any other `*` exactly one, a `*` action every action.
 */
function grantsBySegments(g: { path: string[]; action: string }, r: { path: string[]; action: string }): boolean {
  const tail = g.path.at(-1) === "*";
  const fixed = tail ? g.path.slice(0, -1) : g.path;
  if (tail ? r.path.length <= fixed.length : r.path.length !== fixed.length) return false;
  return (g.action === "*" || g.action === r.action) && fixed.every((seg, i) => seg === "*" || seg === r.path[i]);
}

/** True when a scope string holds a `.` or `..` path segment (answers intentionally changed). */
const hasDotSegment = (s: unknown): boolean =>
  typeof s === "string" && s.split(":", 1)[0]!.split("/").some((seg) => seg === "." || seg === "..");

/** Near-grammar strings that often hold dot segments, to exercise the exclusion both ways. */
const dotty = fc.oneof(nearScope, fc.string({ unit: fc.constantFrom(..."a./*:r"), maxLength: 10 }));

describe("compileScopes decides exactly as the scanning reference", () => {
  it("on random lists and scopes, except dot segments", () => {
    fc.assert(
      fc.property(fc.array(dotty, { maxLength: 8 }), dotty, (granted, required) => {
        const now = compileScopes(granted)(required);
        if (hasDotSegment(required)) {
          expect(now).toBe(false);
          return;
        }
        const kept = granted.filter((g) => !hasDotSegment(g));
        // The old matcher plus the trailing-wildcard rule, nothing else.
        const pr = parseScope(required);
        const deeper = pr !== null && kept.some((g) => parseScope(g) !== null && grantsBySegments(parseScope(g)!, pr));
        expect(now).toBe(reference.compileScopes(kept)(required) || deeper);
        expect(now).toBe(deeper);
        expect(scopesGrant(granted, required)).toBe(now);
        // Only ever wider than before: every old grant still holds.
        expect(!reference.compileScopes(kept)(required) || now).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("parseScope agrees with the reference on everything but dot segments", () => {
    fc.assert(
      fc.property(fc.oneof(dotty, fc.string()), (s) => {
        expect(parseScope(s)).toEqual(hasDotSegment(s) ? null : reference.parseScope(s));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("wildcard index", () => {
  /** Counts Map lookups made by `fn` (the index is a Map per segment level). */
  function mapGets(fn: () => void): number {
    const original = Map.prototype.get;
    let calls = 0;
    Map.prototype.get = function (this: Map<unknown, unknown>, key: unknown) {
      calls++;
      return original.call(this, key);
    };
    try {
      fn();
    } finally {
      Map.prototype.get = original;
    }
    return calls;
  }

  it("a check follows the required scope's segments, not the number of wildcards", () => {
    const few = compileScopes(["datasets/*/y:read"]);
    const many = compileScopes(Array.from({ length: 10_000 }, (_, i) => `datasets/d${i}/*:read`));
    for (const m of [few, many]) {
      expect(m("datasets/d9999/x:read")).toBe(m === many);
      expect(m("datasets/nope/x:read")).toBe(false);
    }
    const work = (m: (s: string) => boolean) => mapGets(() => m("datasets/d9999/x:read")) + mapGets(() => m("datasets/nope/x:read"));
    // At most one literal lookup per required segment, whatever the list size.
    expect(work(many)).toBeLessThanOrEqual(2 * 3);
    expect(work(few)).toBeLessThanOrEqual(2 * 3);
  });

  it("a list of wildcards at every depth visits each index node at most once", () => {
    // `*` or the literal at each of 8 levels: 2^8 grants, all reachable by one required scope.
    const segs = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const granted: string[] = [];
    for (let mask = 0; mask < 256; mask++) granted.push(`${segs.map((s, i) => ((mask >> i) & 1 ? "*" : s)).join("/")}:write`);
    const m = compileScopes(granted);
    expect(m("a/b/c/d/e/f/g/h:read")).toBe(false); // every branch walked, none grants
    // Nodes of the index: 2^1 + 2^2 + … + 2^8 = 510; each looked up at most once.
    expect(mapGets(() => m("a/b/c/d/e/f/g/h:read"))).toBeLessThanOrEqual(510);
    expect(m("a/b/c/d/e/f/g/h:write")).toBe(true);
  });
});

describe("required scopes: anyOf / allOf", () => {
  it("allOf and arrays need every scope, anyOf at least one, and name a missing one", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(scope, wildScope), { maxLength: 5 }), fc.array(fc.oneof(scope, wildScope), { minLength: 1, maxLength: 4 }), (granted, list) => {
        const holds = compileScopes(granted);
        const all = list.every(holds);
        const some = list.some(holds);
        expect(missingScope(list, holds) === undefined).toBe(all);
        expect(missingScope({ allOf: list }, holds) === undefined).toBe(all);
        expect(missingScope({ anyOf: list }, holds) === undefined).toBe(some);
        if (!all) expect(holds(missingScope({ allOf: list }, holds)!)).toBe(false);
        if (!some) expect(missingScope({ anyOf: list }, holds)).toBe(list[0]);
        expect(requiredScopesProblem({ anyOf: list })).toBeNull();
        expect(requiredScopesProblem({ allOf: list })).toBeNull();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("malformed requirements are never met and are named by path", () => {
    const yes = () => true;
    for (const bad of [[], { anyOf: [] }, { allOf: [] }, { anyOf: "x" }, {}, null, 3, [1]] as never[]) expect(missingScope(bad, yes)).not.toBeUndefined();
    expect(requiredScopesProblem("core")).toMatchObject({ path: "" });
    expect(requiredScopesProblem(["core:read", "x"])).toMatchObject({ path: "[1]" });
    expect(requiredScopesProblem({ anyOf: ["core:read", "datasets/..:read"] })).toMatchObject({ path: ".anyOf[1]" });
    expect(requiredScopesProblem({ allOf: [] })).toMatchObject({ path: ".allOf", message: expect.stringContaining("empty") });
    expect(requiredScopesProblem({ anyOf: ["core:read"], allOf: ["core:read"] })).toMatchObject({ path: "" });
    expect(requiredScopesProblem({ oneOf: ["core:read"] })).toMatchObject({ path: "" });
  });

  it("random requirements never throw", () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        expect(() => requiredScopesProblem(x)).not.toThrow();
        expect(() => missingScope(x as never, () => true)).not.toThrow();
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
