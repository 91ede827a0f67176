// vitest's API for the conformance kit on bun:test, over the shared suites
// and hooks of ../support/vitest-on-runtime.ts; `expect` is bun:test's own
// (Jest's matchers).
import { expect, test } from "bun:test";
import { vitestOn } from "../support/vitest-on-runtime.js";

export { expect };

export const { describe, it, beforeEach, afterEach } = vitestOn((name, fn, skip) => (skip ? test.skip : test)(name, fn));
