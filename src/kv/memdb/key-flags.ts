// Key flags of the transaction buffer: per-key bookkeeping bits that travel with a buffered key
// (locked, presumed absent, assertion...), and the operations that change them. Semantics follow
// client-go kv/keyflags.go; the bit layout is ours (only the operations' effects must match).

/** Bits of {@link KeyFlags}. Read them through the `has*` predicates, change them with {@link FlagsOp}s. */
export const KeyFlag = {
  /** The key is presumed absent: its existence is checked lazily (at prewrite or when it is locked). */
  presumeKeyNotExists: 1 << 0,
  /** The key holds a pessimistic lock of this transaction. */
  keyLocked: 1 << 1,
  /** The key still has to be pessimistically locked. */
  needLocked: 1 << 2,
  /** The value existed when the key was locked. */
  keyLockedValueExists: 1 << 3,
  /** The key's existence must be checked when it is locked. */
  needCheckExists: 1 << 4,
  /** The key goes to prewrite but not to commit. */
  prewriteOnly: 1 << 5,
  /** The key is skipped by two-phase commit. */
  ignoredIn2PC: 1 << 6,
  /** In-transaction reads may see the key. */
  readable: 1 << 7,
  /** The key was written by an insert. */
  newlyInserted: 1 << 8,
  /** Assert that the key exists (together with assertNotExist: "unknown"). */
  assertExist: 1 << 9,
  /** Assert that the key does not exist (together with assertExist: "unknown"). */
  assertNotExist: 1 << 10,
  /** The conflict / constraint check of the key is postponed to prewrite (pessimistic txns). */
  needConstraintCheckInPrewrite: 1 << 11,
  /** A presumeKeyNotExists of an earlier statement, kept so a statement retry still asserts absence. */
  previousPresumeKeyNotExists: 1 << 12,
  /** The key is locked in share mode (always together with keyLocked). */
  lockedInShareMode: 1 << 13,
  /**
   * The lock learned whether the value exists (return values / check existence), so
   * keyLockedValueExists is a fact, not a default (ours: client-go assumes existence).
   */
  keyLockedValueKnown: 1 << 14,
} as const;

/**
 * The flags of one buffered key: an OR of {@link KeyFlag} bits. A plain number so that reading
 * flags costs nothing; use the `has*` functions rather than testing bits by hand.
 */
export type KeyFlags = number;

/**
 * Flags that survive the cleanup of the stage that created their key (client-go persistentFlags):
 * they describe locks already taken on the server, which a statement rollback does not undo.
 */
export const PERSISTENT_FLAGS: KeyFlags =
  KeyFlag.keyLocked |
  KeyFlag.keyLockedValueExists |
  KeyFlag.keyLockedValueKnown |
  KeyFlag.needConstraintCheckInPrewrite |
  KeyFlag.lockedInShareMode;

/** Every defined bit, to reject garbage in {@link isKeyFlags}. */
const ALL_FLAGS: KeyFlags = (1 << 15) - 1;

/**
 * Operations on {@link KeyFlags} (client-go kv.FlagsOp), given to `MemDb.set` / `delete` /
 * `updateFlags` and applied in order by {@link applyFlagsOps}.
 */
export const FlagsOp = {
  /** Sets presumeKeyNotExists and needCheckExists. */
  setPresumeKeyNotExists: 1,
  /** Clears presumeKeyNotExists and needCheckExists. */
  delPresumeKeyNotExists: 2,
  /** Sets keyLocked. */
  setKeyLocked: 3,
  /** Clears keyLocked. */
  delKeyLocked: 4,
  /** Sets needLocked. */
  setNeedLocked: 5,
  /** Clears needLocked. */
  delNeedLocked: 6,
  /** Sets keyLockedValueExists and clears needConstraintCheckInPrewrite (the lock checked existence). */
  setKeyLockedValueExists: 7,
  /** Clears keyLockedValueExists and needConstraintCheckInPrewrite (the lock checked existence). */
  setKeyLockedValueNotExists: 8,
  /** Clears needCheckExists. */
  delNeedCheckExists: 9,
  /** Sets prewriteOnly. */
  setPrewriteOnly: 10,
  /** Sets ignoredIn2PC. */
  setIgnoredIn2PC: 11,
  /** Sets readable. */
  setReadable: 12,
  /** Sets newlyInserted. */
  setNewlyInserted: 13,
  /** Asserts the key exists (replaces any other assertion). */
  setAssertExist: 14,
  /** Asserts the key does not exist (replaces any other assertion). */
  setAssertNotExist: 15,
  /** Marks the key's existence as unknown (both assertion bits). */
  setAssertUnknown: 16,
  /** Removes any assertion. */
  setAssertNone: 17,
  /** Sets needConstraintCheckInPrewrite. */
  setNeedConstraintCheckInPrewrite: 18,
  /** Clears needConstraintCheckInPrewrite. */
  delNeedConstraintCheckInPrewrite: 19,
  /** Sets previousPresumeKeyNotExists. */
  setPreviousPresumeKeyNotExists: 20,
  /** Sets lockedInShareMode. */
  setKeyLockedInShareMode: 21,
  /** Clears lockedInShareMode (the lock is exclusive). */
  setKeyLockedInExclusiveMode: 22,
} as const;

/** One flag operation (a value of {@link FlagsOp}). */
export type FlagsOp = (typeof FlagsOp)[keyof typeof FlagsOp];

const F = KeyFlag;
const LAST_OP = FlagsOp.setKeyLockedInExclusiveMode;

/** True when `op` is one of the {@link FlagsOp} values. */
export function isFlagsOp(op: unknown): op is FlagsOp {
  return typeof op === "number" && Number.isInteger(op) && op >= 1 && op <= LAST_OP;
}

/** True when `flags` is a valid {@link KeyFlags} value (a non-negative integer of known bits). */
export function isKeyFlags(flags: unknown): flags is KeyFlags {
  return typeof flags === "number" && Number.isInteger(flags) && flags >= 0 && (flags & ~ALL_FLAGS) === 0;
}

/** Applies `op` to `flags` and returns the result (client-go ApplyFlagsOps, one op). */
export function applyFlagsOp(flags: KeyFlags, op: FlagsOp): KeyFlags {
  switch (op) {
    case FlagsOp.setPresumeKeyNotExists:
      return flags | F.presumeKeyNotExists | F.needCheckExists;
    case FlagsOp.delPresumeKeyNotExists:
      return flags & ~(F.presumeKeyNotExists | F.needCheckExists);
    case FlagsOp.setKeyLocked:
      return flags | F.keyLocked;
    case FlagsOp.delKeyLocked:
      return flags & ~F.keyLocked;
    case FlagsOp.setNeedLocked:
      return flags | F.needLocked;
    case FlagsOp.delNeedLocked:
      return flags & ~F.needLocked;
    case FlagsOp.setKeyLockedValueExists:
      return (flags | F.keyLockedValueExists | F.keyLockedValueKnown) & ~F.needConstraintCheckInPrewrite;
    case FlagsOp.setKeyLockedValueNotExists:
      return (flags | F.keyLockedValueKnown) & ~(F.keyLockedValueExists | F.needConstraintCheckInPrewrite);
    case FlagsOp.delNeedCheckExists:
      return flags & ~F.needCheckExists;
    case FlagsOp.setPrewriteOnly:
      return flags | F.prewriteOnly;
    case FlagsOp.setIgnoredIn2PC:
      return flags | F.ignoredIn2PC;
    case FlagsOp.setReadable:
      return flags | F.readable;
    case FlagsOp.setNewlyInserted:
      return flags | F.newlyInserted;
    case FlagsOp.setAssertExist:
      return (flags & ~F.assertNotExist) | F.assertExist;
    case FlagsOp.setAssertNotExist:
      return (flags & ~F.assertExist) | F.assertNotExist;
    case FlagsOp.setAssertUnknown:
      return flags | F.assertExist | F.assertNotExist;
    case FlagsOp.setAssertNone:
      return flags & ~(F.assertExist | F.assertNotExist);
    case FlagsOp.setNeedConstraintCheckInPrewrite:
      return flags | F.needConstraintCheckInPrewrite;
    case FlagsOp.delNeedConstraintCheckInPrewrite:
      return flags & ~F.needConstraintCheckInPrewrite;
    case FlagsOp.setPreviousPresumeKeyNotExists:
      return flags | F.previousPresumeKeyNotExists;
    case FlagsOp.setKeyLockedInShareMode:
      return flags | F.lockedInShareMode;
    case FlagsOp.setKeyLockedInExclusiveMode:
      return flags & ~F.lockedInShareMode;
  }
}

/** Applies `ops` to `flags` in order (client-go ApplyFlagsOps). */
export function applyFlagsOps(flags: KeyFlags, ops: readonly FlagsOp[]): KeyFlags {
  let f = flags;
  for (const op of ops) f = applyFlagsOp(f, op);
  return f;
}

/** The lock learned the key's existence (see {@link hasLockedValueExists}). */
export function hasLockedValueKnown(flags: KeyFlags): boolean {
  return (flags & F.keyLockedValueKnown) !== 0;
}

/** The key is presumed absent, by this statement or an earlier one (client-go HasPresumeKeyNotExists). */
export function hasPresumeKeyNotExists(flags: KeyFlags): boolean {
  return (flags & (F.presumeKeyNotExists | F.previousPresumeKeyNotExists)) !== 0;
}

/** The key holds a pessimistic lock (client-go HasLocked). */
export function hasLocked(flags: KeyFlags): boolean {
  return (flags & F.keyLocked) !== 0;
}

/** The lock is a shared one (client-go HasLockedInShareMode). */
export function hasLockedInShareMode(flags: KeyFlags): boolean {
  return (flags & F.lockedInShareMode) !== 0;
}

/** The key still has to be locked (client-go HasNeedLocked). */
export function hasNeedLocked(flags: KeyFlags): boolean {
  return (flags & F.needLocked) !== 0;
}

/** The value existed when the key was locked (client-go HasLockedValueExists). */
export function hasLockedValueExists(flags: KeyFlags): boolean {
  return (flags & F.keyLockedValueExists) !== 0;
}

/** The key's existence must be checked when it is locked (client-go HasNeedCheckExists). */
export function hasNeedCheckExists(flags: KeyFlags): boolean {
  return (flags & F.needCheckExists) !== 0;
}

/** The key goes to prewrite only (client-go HasPrewriteOnly). */
export function hasPrewriteOnly(flags: KeyFlags): boolean {
  return (flags & F.prewriteOnly) !== 0;
}

/** The key is skipped by two-phase commit (client-go HasIgnoredIn2PC). */
export function hasIgnoredIn2PC(flags: KeyFlags): boolean {
  return (flags & F.ignoredIn2PC) !== 0;
}

/** In-transaction reads may see the key (client-go HasReadable). */
export function hasReadable(flags: KeyFlags): boolean {
  return (flags & F.readable) !== 0;
}

/** The key was written by an insert (client-go HasNewlyInserted). */
export function hasNewlyInserted(flags: KeyFlags): boolean {
  return (flags & F.newlyInserted) !== 0;
}

/** The conflict check is postponed to prewrite (client-go HasNeedConstraintCheckInPrewrite). */
export function hasNeedConstraintCheckInPrewrite(flags: KeyFlags): boolean {
  return (flags & F.needConstraintCheckInPrewrite) !== 0;
}

/** Prewrite asserts the key exists (client-go HasAssertExist). */
export function hasAssertExist(flags: KeyFlags): boolean {
  return (flags & (F.assertExist | F.assertNotExist)) === F.assertExist;
}

/** Prewrite asserts the key does not exist (client-go HasAssertNotExist). */
export function hasAssertNotExist(flags: KeyFlags): boolean {
  return (flags & (F.assertExist | F.assertNotExist)) === F.assertNotExist;
}

/** No assertion can be made on the key (client-go HasAssertUnknown). */
export function hasAssertUnknown(flags: KeyFlags): boolean {
  return (flags & (F.assertExist | F.assertNotExist)) === (F.assertExist | F.assertNotExist);
}

/** Some assertion (exist, not-exist or unknown) is set; it then stays for the transaction (client-go HasAssertionFlags). */
export function hasAssertionFlags(flags: KeyFlags): boolean {
  return (flags & (F.assertExist | F.assertNotExist)) !== 0;
}

/** The persistent part of `flags` (client-go AndPersistent). */
export function andPersistent(flags: KeyFlags): KeyFlags {
  return flags & PERSISTENT_FLAGS;
}
