/**
 * Pure policy evaluation: given a stored token, what a request shows and an
 * explicit `now`, decide allow or deny with a stable reason. Scope, domain
 * and IP matchers, and the client-IP resolver for trusted proxies. No I/O, no
 * clock: runs in any runtime.
 *
 * ```ts
 * import { evaluate, scopeGrants } from "keyward/policy";
 * ```
 *
 * @module keyward/policy
 */
export {
  type ClientIpOptions,
  type ClientIpResolver,
  type ConfigWarning,
  createClientIpResolver,
  type ForwardingHeader,
  type HeaderSource,
} from "./client-ip.js";
export { type Allow, CREDENTIAL_CODES, type DecisionStatus, type Deny, type DenyCode, type PolicyDecision, statusOf } from "./decision.js";
export { compileDomains, type DomainMatcher, type DomainPattern, MAX_HOST_LENGTH, matchDomain, parseDomainPattern } from "./domain.js";
export { type EvaluableToken, type EvaluationContext, evaluate, type RequireHttps, type SignatureOutcome } from "./evaluate.js";
export { createTransportResolver, isLoopbackIp, type Transport, type TransportResolver } from "./transport.js";
export { type Cidr, compileIpAllowlist, formatIp, type IpMatcher, isValidCidr, type ParsedIp, parseCidr, parseIp } from "./ip.js";
export {
  compileScopes,
  isValidScope,
  isWriteOrDeleteScope,
  MAX_SCOPE_LENGTH,
  missingScope,
  type ParsedScope,
  type RequiredScopes,
  parseScope,
  type ScopeMatcher,
  scopeGrants,
  scopesGrant,
} from "./scope.js";
export { policyAt } from "../model/record.js";
