// The modules of Bun that the files Bun runs here import (vitest-on-bun.ts,
// serve.ts): Bun's own types are not a dependency of this project, and only
// Bun runs those files.
declare module "bun:test" {
  type Test = (name: string, fn: () => Promise<void>) => void;
  export const test: Test & { skip: Test };
  export const expect: unknown;
}

declare module "bun:sqlite" {
  export class Database {
    constructor(path: string);
    prepare(sql: string): import("keyward/sqlite").SqliteStatement;
    exec(sql: string): unknown;
    close(): void;
  }
}
