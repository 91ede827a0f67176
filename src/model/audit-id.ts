// Ids of audit log entries, written by the admin side and by the verifier (leak reports).
import { randomBase62 } from "../lib/base62.js";
import type { RandomSource } from "../lib/crypto.js";

let auditSeq = 0;

/**
 * Audit ids sort like the entries were appended: time, then a per-process
 * sequence (several entries share a millisecond), then randomness so that
 * processes sharing a store never collide.
 */
export function auditId(at: number, random: RandomSource): string {
  auditSeq = (auditSeq + 1) % 1_679_616; // 36^4
  return `aud_${at.toString(36).padStart(9, "0")}${auditSeq.toString(36).padStart(4, "0")}${randomBase62(10, random)}`;
}
