// The vitest configuration of broken-stores.kit.ts, which conformance-catches.test.ts runs.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^keyward$/, replacement: src("index.ts") },
      { find: /^keyward\/(.+)$/, replacement: src("$1/index.ts") },
    ],
  },
  test: { include: [fileURLToPath(new URL("broken-stores.kit.ts", import.meta.url))], testTimeout: 20_000 },
});
