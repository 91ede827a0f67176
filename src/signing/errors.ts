import { InvalidInputError } from "../errors.js";

/** Why a signature base could not be created (RFC 9421 §2.5: "produce an error"). */
export type SignatureBaseErrorReason =
  /** A covered header field, dictionary key or query parameter is not in the message. */
  | "COMPONENT_MISSING"
  /** The same component identifier is listed twice (§2.5 step 2.0). */
  | "COMPONENT_DUPLICATED"
  /** Unknown derived component, unknown or incompatible parameter, `req`/`tr`, wrong message type. */
  | "COMPONENT_UNSUPPORTED"
  /** The identifier is not a structured-field String with valid parameters, or a value cannot be encoded. */
  | "COMPONENT_INVALID"
  /** A signature parameter has the wrong type or is out of range. */
  | "PARAMS_INVALID"
  /** The resulting base contains characters outside printable ASCII (§2.5 step 4). */
  | "NON_ASCII";

/**
 * Thrown by {@link signatureBase} and {@link signRequest} when the signature
 * base cannot be created. It is an `InvalidInputError` (code `INVALID_INPUT`);
 * `reason` says why and `component` names the offending component identifier.
 */
export class SignatureBaseError extends InvalidInputError {
  static override readonly code = "INVALID_INPUT" as const;
  /** Why the signature base cannot be created. */
  declare readonly reason: SignatureBaseErrorReason;
  /** The offending component identifier (`@query-param;name="id"`), when one is to blame. */
  declare readonly component: string | undefined;

  constructor(reason: SignatureBaseErrorReason, message: string, component?: string, options?: { cause?: unknown }) {
    super("components", component === undefined ? message : `${component}: ${message}`, options, { reason, component });
  }
}
