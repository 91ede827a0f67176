import { defineConfig } from "tsup";

// One build entry per public subpath (package.json "exports").
export default defineConfig({
  entry: {
    index: "src/index.ts",
    policy: "src/policy/index.ts",
    signing: "src/signing/index.ts",
    client: "src/client/index.ts",
    sqlite: "src/sqlite/index.ts",
    leaks: "src/leaks/index.ts",
    postgres: "src/postgres/index.ts",
    testing: "src/testing/index.ts",
    hono: "src/hono/index.ts",
    express: "src/express/index.ts",
    fastify: "src/fastify/index.ts",
    fetch: "src/fetch/index.ts",
    admin: "src/admin/index.ts",
    // The `keyward` bin (package.json "bin"), Node only.
    cli: "src/cli/index.ts",
  },
  format: ["esm"],
  target: "es2022",
  platform: "neutral",
  dts: true,
  tsconfig: "tsconfig.build.json",
  // No source maps: they would point at src/, which is not published, and
  // double the package; dist is readable, unminified ESM.
  sourcemap: false,
  clean: true,
  splitting: true,
  treeshake: true,
  external: ["vitest", "hono", "express", "fastify", /^node:/],
});
