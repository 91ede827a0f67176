/**
 * keyward: issue, store, check, sign and meter API tokens.
 *
 * ```ts
 * import { Keyward, MemoryStore } from "keyward";
 * ```
 *
 * @module keyward
 */
export type { ForeignTokenPattern, KeywardOptions, TokenLifetimeOptions } from "./config.js";
export * from "./errors.js";
export { Keyward } from "./keyward.js";
export { type AnswerOptions, type DeniedDecision, type ProblemDetails, problemDetails, problemResponse } from "./http/problem.js";
export type { RandomSource } from "./lib/crypto.js";
export { deriveSigningSecret } from "./lib/derive.js";
export { escapeText } from "./lib/text.js";
export { IssuedToken } from "./manager/issued.js";
export type {
  ActorOptions,
  DeleteTokenResult,
  ListTokensOptions,
  RegenerateTokenOptions,
  TokenManager,
  UpdateTokenOptions,
} from "./manager/tokens.js";
export type { GetUsageOptions, UsageReader } from "./manager/usage.js";
export type { LifecycleEvent, LifecycleFilter } from "./manager/lifecycle.js";
export { policyAt } from "./model/record.js";
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
export { combineStores, type StoreParts } from "./store/combine.js";
export { type GuardedStore, guardStore, sanitizeStoreError } from "./store/guard.js";
export type { CreditState } from "./store/kit/credits.js";
export { type MeterStep, meterStep } from "./store/kit/meter.js";
export { RATE_WINDOW_BUCKETS, type RateWindowState } from "./store/kit/rate-window.js";
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
export { Decision } from "./verify/decision.js";
export type { CheckInput, CheckOptions } from "./verify/verifier.js";
