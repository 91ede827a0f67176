// The part of Bun's test runner (bun:test) that vitest-on-bun.ts calls: Bun's
// own types are not a dependency of this project, and only Bun runs that file.
declare module "bun:test" {
  type Body = () => unknown;
  export const describe: ((name: string, fn: () => void) => void) & { skip(name: string, fn: () => void): void };
  export const it: (name: string, fn: Body) => void;
  export const beforeEach: (fn: Body) => void;
  export const afterEach: (fn: Body) => void;
  export const expect: unknown;
}
