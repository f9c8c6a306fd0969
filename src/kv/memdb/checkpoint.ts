// Checkpoint tokens (client-go MemDBCheckpoint): a position in the buffer's undo log, plus what
// is needed to refuse a token that no longer names that position (another buffer, a reset, or a
// revert past it after which the same position holds other writes).

/** An opaque savepoint of a buffer, from `MemDb.checkpoint()`, for `MemDb.revertToCheckpoint()`. */
export class MemDbCheckpoint {
  /** @internal Use `MemDb.checkpoint()`. */
  constructor(
    /** @internal The buffer that issued it. */
    readonly owner: object,
    /** @internal The buffer's reset count when it was issued. */
    readonly generation: number,
    /** Position in the undo log (number of value writes that a revert keeps). */
    readonly position: number,
    /** @internal Id of the undo record just below `position` (0 at position 0). */
    readonly idBelow: number,
  ) {}
}
