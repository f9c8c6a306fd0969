// Errors of the transaction buffer that have no client-go counterpart (client-go panics in these
// cases). The size errors (KeyTooLargeError, EntryTooLargeError, TxnTooLargeError) and
// CannotSetNilValueError are the shared ones of src/errors/txn.ts.

import { InvalidArgumentError, type TikvErrorOptions } from "../../errors/base.js";
import { InvalidTxnError } from "../../errors/txn.js";

/** The staging operation that rejected a handle. */
export type StagingOperation = "release" | "cleanup" | "inspectStage";

/**
 * A staging handle that the operation cannot take: not an integer, negative, or not the top
 * stage (`release`, and `cleanup` below the top; client-go panics there). Code INVALID_ARGUMENT.
 */
export class InvalidStagingHandleError extends InvalidArgumentError {
  constructor(
    /** The operation that was called. */
    readonly operation: StagingOperation,
    /** The handle it was given. */
    readonly handle: unknown,
    /** The staging depth at the time (the only handle `release` accepts). */
    readonly depth: number,
    options?: TikvErrorOptions,
  ) {
    super(`${operation}(${String(handle)}) with staging depth ${depth}`, "handle", options);
  }
}

/** Why a checkpoint cannot be reverted to. */
export type InvalidCheckpointReason =
  | "not-a-checkpoint"
  | "other-buffer"
  | "reset"
  | "reverted"
  | "below-current-stage";

/**
 * `revertToCheckpoint` was given something it cannot revert to: not a checkpoint, one of another
 * buffer or from before `reset()`, one whose writes were already reverted past, or one taken
 * below the current stage (reverting it would undo a parent stage's writes). Code INVALID_ARGUMENT.
 */
export class InvalidCheckpointError extends InvalidArgumentError {
  constructor(
    /** What is wrong with the checkpoint. */
    readonly reason: InvalidCheckpointReason,
    options?: TikvErrorOptions,
  ) {
    super(`cannot revert to this checkpoint (${reason})`, "checkpoint", options);
  }
}

/**
 * A buffer snapshot (or one of its iterators) was read after the stage-0 content it shows
 * changed: a write with no stage open, the release of stage 1 with writes in it, a revert at
 * stage 0, or `reset()`. Take a new snapshot. Code INVALID_TXN (client-go: "invalid iter").
 */
export class StaleSnapshotError extends InvalidTxnError {
  constructor(options?: TikvErrorOptions) {
    super("memdb snapshot is stale: the buffer's stage 0 changed since it was taken", options);
  }
}

/**
 * The buffer's values were dropped by `discardValues()` (after commit); reading values or
 * writing is no longer possible (client-go panics "vlog is reset"). Code INVALID_TXN.
 */
export class ValuesDiscardedError extends InvalidTxnError {
  constructor(
    /** The method that was called. */
    readonly operation: string,
    options?: TikvErrorOptions,
  ) {
    super(`memdb values were discarded; ${operation} is not possible any more`, options);
  }
}
