import { defineConfig } from "tsup";

// One build entry per public subpath (package.json "exports").
export default defineConfig({
  entry: {
    index: "src/index.ts",
    policy: "src/policy/index.ts",
    signing: "src/signing/index.ts",
    client: "src/client/index.ts",
    sqlite: "src/sqlite/index.ts",
    postgres: "src/postgres/index.ts",
    testing: "src/testing/index.ts",
  },
  format: ["esm"],
  target: "es2022",
  platform: "neutral",
  dts: true,
  tsconfig: "tsconfig.build.json",
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
  external: ["vitest"],
});
