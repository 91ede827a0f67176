/**
 * keyward/admin: your customers manage their own API tokens. One Fetch
 * handler serves a JSON REST API (list, create, read, update with an
 * effective time and a compare-and-set revision, regenerate with a grace
 * period, disable, enable, revoke, delete, usage, audit, the team's members
 * and roles), its OpenAPI 3.1 document, and an
 * embeddable console page (the `<keyward-tokens>` element). See
 * docs/console.md.
 *
 * @example
 * ```ts
 * import { Keyward, MemoryStore } from "keyward";
 * import { createAdminHandler } from "keyward/admin";
 *
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * const admin = createAdminHandler({ keyward: kw, basePath: "/tokens-console", authorize: () => "acct_1" });
 * ```
 *
 * @module keyward/admin
 */
export { type AdminHandler, createAdminHandler } from "./handler.js";
export { type NodeHandlerOptions, toNodeHandler } from "./node.js";
export type { AdminErrorContext, AdminHandlerOptions, AdminOperation, AdminPrincipal, AuthorizeResult } from "./options.js";
export { ADMIN_CODES, type AdminProblem, type AdminProblemCode } from "./problem.js";
