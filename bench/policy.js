// Policy rules on the request path: cold checks (cache off, so every call
// looks the token up in the store and compiles its rules) and warm ones, with
// one rule against hundreds, and the compiled matchers on their own.
import { Keyward, MemoryStore } from "../dist/index.js";
import { compileDomains, compileIpAllowlist, compileScopes, createTransportResolver, isLoopbackIp } from "../dist/policy.js";
import { runGroup } from "./harness.js";

const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));

/**
 * The rule sets, each with a request that passes only the last rule (the
 * worst case for a scan); each kind of rule also alone, as its baseline.
 */
const SETS = {
  "1 domain": { policy: { domains: ["app.example.com"] }, origin: "https://app.example.com" },
  "256 domains": {
    policy: { domains: range(256, (i) => (i % 2 ? `*.site${i}.example` : `app${i}.example.com`)) },
    origin: "https://a.b.site255.example",
  },
  "1 CIDR": { policy: { ips: ["10.3.230.0/24"] }, ip: "10.3.230.7" },
  "1 000 CIDRs": {
    policy: { ips: range(1000, (i) => (i % 4 === 3 ? `2001:db8:${i.toString(16)}::/48` : `10.${i >> 8}.${i & 255}.0/24`)) },
    ip: "10.3.230.7",
  },
  "1 wildcard scope": { policy: { scopes: ["datasets/team99/*:read"] }, scope: "datasets/team99/prices:read" },
  "100 wildcard scopes": {
    policy: { scopes: range(100, (i) => `datasets/team${i}/*:read`) },
    scope: "datasets/team99/prices:read",
  },
};

export async function benchPolicy({ ms }) {
  const store = new MemoryStore();
  const options = { store, prefix: "acme", usage: { enabled: false } };
  const cold = new Keyward({ ...options, cache: { maxEntries: 0 } });
  const warm = new Keyward(options);
  const cases = [];
  const warmCases = [];
  for (const [name, set] of Object.entries(SETS)) {
    const { token } = await cold.tokens.create({ owner: "acct_1", kind: "publishable", ...set.policy });
    const input = { token, scope: set.scope ?? "core:read", ip: set.ip ?? null, origin: set.origin ?? null };
    for (const kw of [cold, warm]) {
      const d = await kw.check(input);
      if (!d.ok) throw new Error(`benchmark token (${name}) was denied: ${d.code}`);
    }
    cases.push({ name: `kw.check, cold (store lookup; rules compiled once per revision), ${name}`, fn: () => cold.check(input) });
    warmCases.push({ name: `kw.check, warm cache, ${name}`, fn: () => warm.check(input) });
  }
  // A token under an account with a plan ceiling: the route's scope must be the token's and within the ceiling.
  await warm.accounts.set("acct_ceiling", { ceiling: ["datasets/*:read", "core:read"] });
  const needed = "datasets/team9999/prices:read";
  for (const n of [1, 256]) {
    const scopes = [...range(n - 1, (i) => `datasets/team${i}/*:read`), needed];
    const { token } = await warm.tokens.create({ owner: "acct_ceiling", kind: "secret", scopes });
    const input = { token, scope: needed };
    const d = await warm.check(input);
    if (!d.ok) throw new Error(`benchmark token (ceiling, ${n} scopes) was denied: ${d.code}`);
    warmCases.push({ name: `kw.check, warm cache, account with a plan ceiling, ${n} token scope${n === 1 ? "" : "s"}`, fn: () => warm.check(input) });
  }
  const rows = await runGroup("Policy rules: cold checks (cache off; usage metering off, to show the rules' cost)", cases, { ms });
  rows.push(...(await runGroup("Policy rules: warm checks (usage metering off)", warmCases, { ms })));

  const domains = compileDomains(SETS["256 domains"].policy.domains);
  const ips = compileIpAllowlist(SETS["1 000 CIDRs"].policy.ips);
  const scopes = compileScopes(SETS["100 wildcard scopes"].policy.scopes);
  const v6 = "2001:db8:3e7::1";
  const longHost = `https://${"a.".repeat(120)}site255.example`;
  // How a request arrived, for requireHttps (the verifier's request context
  // gives the header source and the resolved client: header reads not counted).
  const transport = createTransportResolver();
  const noHeaders = { get: () => null };
  const loopbackClient = { ip: "127.0.0.1" };
  rows.push(
    ...(await runGroup(
      "Compiled matchers",
      [
        { name: "compileDomains(256) (Origin, wildcard hit)", fn: () => domains(SETS["256 domains"].origin, null) },
        { name: "compileDomains(256) (Origin, 250-character host)", fn: () => domains(longHost, null) },
        { name: "compileIpAllowlist(1 000) (IPv4 hit)", fn: () => ips(SETS["1 000 CIDRs"].ip) },
        { name: "compileIpAllowlist(1 000) (IPv6 hit)", fn: () => ips(v6) },
        { name: "compileScopes(100 wildcards) (hit)", fn: () => scopes(SETS["100 wildcard scopes"].scope) },
        { name: "transport of an https URL", fn: () => transport("https://api.example.com/v1/x", "203.0.113.7", noHeaders) },
        { name: "transport of plain http, remote client", fn: () => transport("http://api.example.com/v1/x", "203.0.113.7", noHeaders) },
        {
          name: "transport of plain http to a loopback host, loopback client (exempt)",
          fn: () => transport("http://127.0.0.1:3000/v1/x", "127.0.0.1", noHeaders, loopbackClient),
        },
        { name: "isLoopbackIp", fn: () => isLoopbackIp("127.0.0.1") },
        { name: "compile 256 domains", fn: () => compileDomains(SETS["256 domains"].policy.domains) },
        { name: "compile 1 000 CIDRs", fn: () => compileIpAllowlist(SETS["1 000 CIDRs"].policy.ips) },
      ],
      { ms },
    )),
  );
  return rows;
}
