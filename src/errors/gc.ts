// GC and safe-point errors: PD refused to move a safe point or set a barrier (pd
// pkg/errs/errno.go PD:gc:*), or a safe point given by the caller cannot be right.

import { TikvError, type TikvErrorOptions } from "./base.js";
import { PdError } from "./server.js";

/**
 * Why PD refused a GC state change (the PD:gc:* error codes), or `"aheadOfTso"` when a safe
 * point given to GC lies after the current TSO (checked by the client: PD does not).
 */
export type GcStateErrorReason =
  /** The txn safe point never decreases (PD:gc:ErrDecreasingTxnSafePoint). */
  | "decreasingTxnSafePoint"
  /** The GC safe point never decreases (PD:gc:ErrDecreasingGCSafePoint). */
  | "decreasingGcSafePoint"
  /** The GC safe point may not pass the txn safe point (PD:gc:ErrGCSafePointExceedsTxnSafePoint). */
  | "gcSafePointExceedsTxnSafePoint"
  /** A barrier below the txn safe point protects nothing (PD:gc:ErrGCBarrierTSBehindTxnSafePoint). */
  | "barrierBehindTxnSafePoint"
  /**
   * A global barrier below some keyspace's txn safe point protects nothing
   * (PD:gc:ErrGlobalGCBarrierTSBehindTxnSafePoint).
   */
  | "globalBarrierBehindTxnSafePoint"
  /** The keyspace has no keyspace-level GC of its own (PD:gc:ErrGCOnInvalidKeyspace). */
  | "gcOnInvalidKeyspace"
  /** The safe point lies in the future. */
  | "aheadOfTso";

const PD_CODES: Record<string, GcStateErrorReason> = {
  "PD:gc:ErrDecreasingTxnSafePoint": "decreasingTxnSafePoint",
  "PD:gc:ErrDecreasingGCSafePoint": "decreasingGcSafePoint",
  "PD:gc:ErrGCSafePointExceedsTxnSafePoint": "gcSafePointExceedsTxnSafePoint",
  "PD:gc:ErrGCBarrierTSBehindTxnSafePoint": "barrierBehindTxnSafePoint",
  "PD:gc:ErrGlobalGCBarrierTSBehindTxnSafePoint": "globalBarrierBehindTxnSafePoint",
  "PD:gc:ErrGCOnInvalidKeyspace": "gcOnInvalidKeyspace",
};

/**
 * A GC state change was refused. `reason` says which rule it broke; `pdMessage` is PD's text
 * (empty for client-side checks). The original PdError, if any, is the `cause`.
 */
export class GcStateError extends TikvError {
  constructor(
    /** Which rule the change broke. */
    readonly reason: GcStateErrorReason,
    /** PD's message (or the client's, for `aheadOfTso`). */
    readonly pdMessage: string,
    options?: TikvErrorOptions,
  ) {
    super("GC_STATE", `gc state change refused (${reason}): ${pdMessage}`, options);
  }
}

/**
 * The GcStateError a PD error stands for (its message names a PD:gc:* code), else `e` itself:
 * GC callers get the refusal typed, other failures unchanged.
 */
export function gcStateErrorOf(e: unknown): unknown {
  if (!(e instanceof PdError)) return e;
  for (const [code, reason] of Object.entries(PD_CODES)) {
    if (e.pdMessage.includes(code)) return new GcStateError(reason, e.pdMessage, { cause: e });
  }
  return e;
}
