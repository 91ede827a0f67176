import { KeywardError, StoreUnavailableError } from "../errors.js";

/**
 * Runs a store call; an error that is not a KeywardError (a driver's) becomes
 * `StoreUnavailableError` with the original as `cause`.
 */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof KeywardError) throw err;
    throw new StoreUnavailableError("token store unavailable", { cause: err });
  }
}
