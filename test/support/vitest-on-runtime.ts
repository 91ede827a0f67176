// The part of vitest's API that the conformance kit (keyward/testing) calls,
// over another runtime's own test registration, so that the kit runs in Bun
// and Deno as it is: bundled with "vitest" aliased to vitest-on-bun.ts or
// vitest-on-deno.ts, each of which hands this module its runtime's `test`.
// Suites, hooks and names are kept here, so both runtimes run the kit alike:
// vitest's `describe(name, options, fn)`; `beforeEach` / `afterEach` of every
// enclosing suite, outermost first (`afterEach` innermost first); each test
// registered with its full name (`suite > group > test`); and the test
// context's `skip()`, with which a kit test skips a group the store lacks.

/** Registers one test with the runtime: `skip` for a test of a skipped suite. */
export type Register = (name: string, fn: () => Promise<void>, skip: boolean) => void;

type Body = () => void;
type Hook = () => unknown;

interface Suite {
  name: string;
  skip: boolean;
  beforeEach: Hook[];
  afterEach: Hook[];
}

/**
 * Thrown by `skip()`: the test ends there, as vitest's skip ends it. The runtime counts it as
 * passed, so a line `(kit skip) <name>` says it was skipped (the runner checks which were).
 */
const SKIPPED = Symbol("skipped");
const context = { skip: (): never => { throw SKIPPED; } };

/** vitest's `describe`, `it`, `beforeEach` and `afterEach` over `register`. */
export function vitestOn(register: Register) {
  const stack: Suite[] = [];

  function enter(name: string, skip: boolean, fn: Body): void {
    stack.push({ name, skip, beforeEach: [], afterEach: [] });
    try {
      fn();
    } finally {
      stack.pop();
    }
  }
  function describe(name: string, options: Body | object, fn?: Body): void {
    enter(name, false, typeof options === "function" ? (options as Body) : fn!);
  }
  describe.skip = (name: string, fn: Body) => enter(name, true, fn);

  function it(name: string, fn: (ctx: typeof context) => unknown): void {
    const suites = [...stack];
    const full = [...suites.map((s) => s.name), name].join(" > ");
    register(
      full,
      async () => {
        const ran: Suite[] = [];
        try {
          for (const s of suites) {
            ran.unshift(s);
            for (const hook of s.beforeEach) await hook();
          }
          await fn(context);
        } catch (err) {
          if (err !== SKIPPED) throw err;
          console.log(`(kit skip) ${full}`);
        } finally {
          for (const s of ran) for (const hook of s.afterEach) await hook();
        }
      },
      suites.some((s) => s.skip),
    );
  }

  const current = (what: string): Suite => {
    const s = stack.at(-1);
    if (!s) throw new Error(`${what} outside a describe`);
    return s;
  };
  return {
    describe,
    it,
    beforeEach: (hook: Hook) => void current("beforeEach").beforeEach.push(hook),
    afterEach: (hook: Hook) => void current("afterEach").afterEach.push(hook),
  };
}
