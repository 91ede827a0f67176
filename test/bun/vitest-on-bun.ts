// The part of vitest's API the conformance kit (keyward/testing) calls, on
// bun:test, so that the kit runs in Bun as it is: bundled with "vitest"
// aliased to this file (test/bun/bun.test.ts). Two differences are evened
// out: vitest's `describe(name, options, fn)`, and the test context's
// `skip()`, with which a kit test skips a group the store lacks (bun:test has
// no context, and would take a test function with a parameter for one
// waiting on a `done` callback).
import { afterEach, beforeEach, describe as bunDescribe, it as bunIt, expect } from "bun:test";

export { afterEach, beforeEach, expect };

/**
 * Thrown by `skip()`: the test ends there, as vitest's skip ends it. Bun counts it as passed, so a
 * line `(kit skip) <name>` says it was skipped (bun.test.ts checks which were).
 */
const SKIPPED = Symbol("skipped");
const context = { skip: (): never => { throw SKIPPED; } };

type Body = () => void;

export function describe(name: string, options: Body | object, fn?: Body): void {
  bunDescribe(name, typeof options === "function" ? (options as Body) : fn!);
}
describe.skip = (name: string, fn: Body) => bunDescribe.skip(name, fn);

export function it(name: string, fn: (ctx: typeof context) => unknown): void {
  bunIt(name, async () => {
    try {
      await fn(context);
    } catch (err) {
      if (err !== SKIPPED) throw err;
      console.log(`(kit skip) ${name}`);
    }
  });
}
