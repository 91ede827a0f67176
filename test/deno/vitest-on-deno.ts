// vitest's API for the conformance kit on Deno's own test runner (Deno.test),
// over the shared suites and hooks of ../support/vitest-on-runtime.ts. Deno has no
// `expect` of its own (@std/expect is on JSR): vitest's own matchers
// (@vitest/expect, a chai plugin) are bundled in.
import { chai, JestAsymmetricMatchers, JestChaiExpect, JestExtend } from "@vitest/expect";
import { vitestOn } from "../support/vitest-on-runtime.js";

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);
export const expect = chai.expect;

/** The part of Deno's global this file calls (Deno's types are not a dependency of this project). */
declare const Deno: {
  test(t: { name: string; fn: () => Promise<void>; ignore: boolean; sanitizeOps: boolean; sanitizeResources: boolean }): void;
};

export const { describe, it, beforeEach, afterEach } = vitestOn((name, fn, skip) =>
  // The kit's stores keep timers and handles between a test's hooks (closed in afterEach): not leaks.
  Deno.test({ name, fn, ignore: skip, sanitizeOps: false, sanitizeResources: false }),
);
