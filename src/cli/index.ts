#!/usr/bin/env node
// The `keyward` bin (Node only): see docs/cli.md.
import { main } from "./main.js";

// node:sqlite, the default store, is in Node 22.13 and later.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`keyward: Node 22.13 or later is required (this is ${process.versions.node})\n`);
  process.exitCode = 5;
} else {
  // node:sqlite is flagged experimental on Node 22 and says so on every run;
  // the CLI's users did not choose it. Every other warning is still printed.
  process.removeAllListeners("warning").on("warning", (w) => {
    if (!(w.name === "ExperimentalWarning" && w.message.includes("SQLite"))) process.stderr.write(`${w.name}: ${w.message}\n`);
  });
  process.exitCode = await main(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    errIsTTY: process.stderr.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  });
}
