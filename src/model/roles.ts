// Team roles: who may do what with an account's tokens. One matrix, read by
// `kw.accounts.members.can`, by keyward/admin (which enforces it) and by the
// console (which hides what a role cannot do); and what a suspension refuses
// whatever the role.

/** A member's role in an account, most rights first. */
export type Role = "owner" | "admin" | "developer" | "viewer";

/** Every role, most rights first. */
export const ROLES: readonly Role[] = Object.freeze(["owner", "admin", "developer", "viewer"]);

/** What a member may be allowed to do. */
export type AccountAction =
  | "tokens.read"
  | "tokens.create.publishable"
  | "tokens.create.secret"
  | "tokens.update"
  | "tokens.limits"
  | "tokens.regenerate"
  | "tokens.revoke"
  | "tokens.disable"
  | "tokens.delete"
  | "usage.read"
  | "members.read"
  | "members.manage"
  | "members.manage.owner"
  | "billing.read";

/**
 * The matrix: the roles allowed each action. `tokens.update` is a change of
 * name, scopes, domains, IPs or expiry; `tokens.limits` one of credits,
 * pools or rate limits; `tokens.regenerate` of a secret token needs
 * `tokens.create.secret` too (a new secret is a secret token made);
 * `members.manage.owner` grants or removes the owner role (an admin
 * manages every other member).
 */
export const ROLE_MATRIX: Readonly<Record<AccountAction, readonly Role[]>> = Object.freeze({
  "tokens.read": ["owner", "admin", "developer", "viewer"],
  "usage.read": ["owner", "admin", "developer", "viewer"],
  "members.read": ["owner", "admin", "developer", "viewer"],
  "tokens.create.publishable": ["owner", "admin", "developer"],
  "tokens.update": ["owner", "admin", "developer"],
  "tokens.regenerate": ["owner", "admin", "developer"],
  "tokens.create.secret": ["owner", "admin"],
  "tokens.limits": ["owner", "admin"],
  "tokens.revoke": ["owner", "admin"],
  "tokens.disable": ["owner", "admin"],
  "members.manage": ["owner", "admin"],
  "billing.read": ["owner", "admin"],
  "tokens.delete": ["owner"],
  "members.manage.owner": ["owner"],
});

/**
 * What a suspended account's members may not do, whatever their role: issue
 * a secret, widen a token or change its limits, or erase a token with its
 * usage (what the operator may be looking into; docs/accounts.md,
 * "Suspending an account"). Reading and taking access away (revoke,
 * disable) stay open.
 */
export const REFUSED_WHILE_SUSPENDED: ReadonlySet<AccountAction> = new Set<AccountAction>([
  "tokens.create.publishable",
  "tokens.create.secret",
  "tokens.update",
  "tokens.limits",
  "tokens.regenerate",
  "tokens.delete",
]);

/** Whether `role` may do `action`. */
export function roleCan(role: Role, action: AccountAction): boolean {
  return ROLE_MATRIX[action].includes(role);
}

/** Whether `v` is a role. */
export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

/** The actions `role` may do, in the matrix's order. */
export function actionsOf(role: Role): AccountAction[] {
  return (Object.keys(ROLE_MATRIX) as AccountAction[]).filter((a) => roleCan(role, a));
}
