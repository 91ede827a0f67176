/**
 * keyward: issue, store, check, sign and meter API tokens.
 *
 * Start with {@link Keyward}, one per application: `kw.tokens` issues and
 * manages tokens, `kw.verify(request)` checks a request. Its store is
 * {@link MemoryStore} (tests, one process), `sqliteStore` of
 * `keyward/sqlite` (one machine) or `postgresStore` of `keyward/postgres`
 * (a fleet); the framework guards are in `keyward/hono`, `keyward/express`,
 * `keyward/fastify` and `keyward/fetch`. The rest of this module is the
 * token format (`generateToken`, `parseToken`, `findTokens`), the errors
 * and types of the API, and the store kit for adapter authors
 * (docs/stores.md).
 *
 * @example
 * ```ts
 * import { Keyward, MemoryStore } from "keyward";
 *
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
 * const d = await kw.verify(new Request("https://api.example.com/v1/prices", { headers: { authorization: `Bearer ${token}` } }), { scope: "core:read" });
 * if (!d.ok) return d.toResponse(); // problem+json, status and headers
 * ```
 *
 * @module keyward
 */
export type { ForeignTokenPattern, KeywardOptions, TokenLifetimeOptions } from "./config.js";
export * from "./errors.js";
export { Keyward } from "./keyward.js";
export {
  type AnswerOptions,
  type AnswerableDecision,
  type ProblemDetails,
  type ProblemResponseOptions,
  problemDetails,
  problemResponse,
} from "./http/problem.js";
export type { RandomSource } from "./lib/crypto.js";
export { deriveSigningSecret } from "./lib/derive.js";
export { escapeText } from "./lib/text.js";
export { IssuedToken } from "./manager/issued.js";
export type { LeakReport, ReportLeakOptions } from "./manager/leaks.js";
export type {
  ActorOptions,
  CreateTokenOptions,
  DeleteTokenResult,
  ListTokensOptions,
  RegenerateTokenOptions,
  ReplayedToken,
  ResealResult,
  TokenManager,
  UpdateTokenOptions,
} from "./manager/tokens.js";
export type {
  GetUsageOptions,
  LastUse,
  TopConsumer,
  TopConsumersOptions,
  UsageReader,
  UsageTarget,
} from "./manager/usage.js";
export {
  type AccountManager,
  type AccountPatch,
  type AccountRecord,
  MAX_CEILING_CHECK_TOKENS,
  type SetAccountOptions,
} from "./manager/accounts.js";
export type { CreditBalance, CreditManager, CreditOptions, CreditTarget } from "./manager/credits.js";
export { MAX_MEMBERS, type Member, type MemberChangeOptions, type MemberManager } from "./manager/members.js";
export { MAX_SCHEDULED } from "./manager/schedule.js";
export { type AccountAction, actionsOf, isRole, ROLE_MATRIX, ROLES, type Role, roleCan } from "./model/roles.js";
export {
  type BillingLine,
  type BillingManager,
  type BillingQueryOptions,
  type BillingRange,
  type BillingRunOptions,
  type BillingRunResult,
  type Invoice,
  MAX_BILLING_SPAN_MS,
} from "./manager/billing.js";
export { ACCOUNT_AUDIT_TARGET } from "./model/account.js";
export type { AccountCreditsPolicy, AccountPolicy, AccountSuspension, AccountTokenRules, ScheduledAccountPolicy, StoredAccount } from "./model/account.js";
export type { LifecycleEvent, LifecycleFilter } from "./manager/lifecycle.js";
export { policyAt } from "./model/record.js";
export { DEFAULT_POOL, MAX_CREDIT_BALANCE, MAX_POOLS, MAX_RATE_LIMITS, POOL_NAME_PATTERN, poolOf, rateLimitsOf } from "./model/pools.js";
export type { CreditsInput, RateLimitInput, SigningInput, TokenSettingsInput } from "./model/inputs.js";
export {
  type CreateTokenInput,
  createTokenSchema,
  type ImportTokenInput,
  importTokenSchema,
  type UpdateTokenInput,
  updateTokenSchema,
} from "./model/schemas.js";
export type * from "./model/types.js";
export type { DecisionStatus, DenyCode } from "./policy/decision.js";
export type { DecisionEvent } from "./monitor/events.js";
export type { Anomaly, AnomalyFilter, AnomalyKind, AnomalyOptions } from "./monitor/anomalies.js";
export type {
  LogRecord,
  MeterLike,
  Observable,
  SpanLike,
  TelemetryAttributes,
  TelemetryOptions,
  TracerLike,
} from "./monitor/telemetry.js";
export type { UsageQueueStats, UsageWriteError } from "./monitor/usage-queue.js";
export { combineStores, type StoreParts } from "./store/combine.js";
export { type GuardedStore, guardStore, sanitizeStoreError } from "./store/guard.js";
export {
  adjustCredits,
  CREDIT_KEY_RETENTION_MS,
  type CreditChange,
  creditKeyReplayed,
  creditRequestText,
  monthStartUtc,
  spendAccountCredits,
  tokenPool,
} from "./store/kit/account-credits.js";
export { putAccountRecord } from "./store/kit/accounts.js";
export { createKeyReplayed, createKeyText } from "./store/kit/create-keys.js";
export {
  type AnalyticsGranularity,
  analyticsOf,
  type LastUsed,
  rollUpRows,
  rowKey,
  type UsageAnalyticsQuery,
  type UsageDetailRow,
  UsageRollUp,
  type UsageSeriesBucket,
} from "./store/kit/usage-analytics.js";
export { type CreditState, type CreditStep, creditState, creditsLeft, spendCredits } from "./store/kit/credits.js";
export { type BillingHourRow, billingKey, billingRowsOf, compareBillingKeys, isBilled, sumBilling } from "./store/kit/billing.js";
export {
  type AccountCounters,
  COUNTER_KEY_SEPARATOR,
  isCounterKeyOf,
  type MeterStep,
  type MoreCounters,
  meterStep,
  poolKey,
  rateKey,
} from "./store/kit/meter.js";
export { nextPeriodStartUtc, periodStartUtc } from "./store/kit/calendar.js";
export { compareKeys } from "./store/kit/page.js";
export { RATE_WINDOW_BUCKETS, type RateWindowState } from "./store/kit/rate-window.js";
export { revokeAudit, revokedRecord, updatedRecord } from "./store/kit/records.js";
export { addUsage, batchTime, hourOf, rollUpUsage, USAGE_WRITER_RETENTION_MS, type UsageCounts } from "./store/kit/usage-buckets.js";
export { MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from "./store/memory.js";
export type * from "./store/types.js";
export {
  type FindTokensOptions,
  type FoundToken,
  findTokens,
  type GenerateTokenOptions,
  generateToken,
  hashToken,
  type ParsedToken,
  type ParseTokenResult,
  parseToken,
  type TokenEnv,
  type TokenFormatCode,
  type TokenKind,
  tokenStart,
} from "./token/format.js";
export { type AllowedDecision, Decision, type DeniedDecision } from "./verify/decision.js";
export type { CheckInput, CheckOptions, VerifyOptions } from "./verify/options.js";
