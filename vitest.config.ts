import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^keyward$/, replacement: src("index.ts") },
      { find: /^keyward\/(.+)$/, replacement: src("$1/index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    // Vitest's default is one worker fewer than the cores: one on a 2-core CI machine, where the
    // suite then ran file after file (8 minutes). Much of it waits on child processes (the CLI,
    // PostgreSQL, Chromium), so two workers there take about 5.5 minutes; the tests that bound
    // work count it or measure CPU time, and hold on a loaded machine.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
