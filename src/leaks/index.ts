/**
 * keyward/leaks: answering leaked tokens. A receiver for GitHub secret
 * scanning partner alerts, acting through `kw.tokens.reportLeak`.
 *
 * ```ts fragment
 * import { createLeakReceiver } from "keyward/leaks";
 * ```
 *
 * @module keyward/leaks
 */
export type { LeakReport, ReportLeakOptions } from "../manager/leaks.js";
export { createLeakReceiver, type GitHubPublicKey, type LeakLabel, type LeakReceiverOptions } from "./github.js";
