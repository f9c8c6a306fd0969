// The mutations of a transaction, built from its buffer in key order (client-go
// 2pc.go initKeysAndMutations): what each buffered key turns into at prewrite, which key is the
// primary, what the prewrite checks of each key, and how many bytes the transaction writes.

import { SharedLockMisuseError } from "../../errors/shared-lock.js";
import { AssertionFailedError } from "../../errors/txn.js";
import {
  hasAssertExist,
  hasAssertNotExist,
  hasLocked,
  hasLockedInShareMode,
  hasLockedValueExists,
  hasLockedValueKnown,
  hasNeedConstraintCheckInPrewrite,
  hasNewlyInserted,
  hasPresumeKeyNotExists,
  type KeyFlags,
} from "../../kv/memdb/key-flags.js";
import type { MemDb } from "../../kv/memdb/memdb.js";
import {
  Assertion,
  AssertionLevel,
  type Mutation,
  Op,
  PrewriteRequest_PessimisticAction,
} from "../../proto/kvrpcpb.js";

/**
 * Says whether a buffered key-value pair need not be committed (client-go KVFilter
 * IsUnnecessaryKeyValue). A locked key is still prewritten as a lock, so its pessimistic
 * lock is not left behind.
 */
export type KvFilter = (key: Buffer, value: Buffer, flags: KeyFlags) => boolean;

/** How the buffer is turned into mutations. */
export interface BuildOptions {
  /** Assertions are sent only at fast / strict (client-go: level off drops them). */
  assertionLevel?: AssertionLevel;
  /** A pessimistic transaction (locked keys get the pessimistic check at prewrite). */
  pessimistic?: boolean;
  kvFilter?: KvFilter | undefined;
  /** The start ts (for the assertion errors found from lock results). */
  startTs?: bigint;
}

/** A transaction's writes, ready for the committer. */
export interface BuiltMutations {
  /** In key order. */
  mutations: Mutation[];
  /** Index of the primary (-1 when there is nothing to commit). */
  primaryIndex: number;
  /** Key + value bytes. */
  sizeBytes: number;
  /** Per mutation, what a pessimistic prewrite checks (empty for optimistic transactions). */
  pessimisticActions: PrewriteRequest_PessimisticAction[];
  /** Number of shared-lock mutations (they rule out async commit and 1PC). */
  sharedLocks: number;
  /** Number of keys flagged as locked in share mode, written or not (pipelined mode refuses them). */
  sharedModeKeys: number;
  /**
   * An assertion the transaction's own pessimistic lock results already contradict (client-go
   * checkAssertionByPessimisticLockResults). It is reported only if the prewrite succeeds: a
   * prewrite failure (e.g. a lost pessimistic lock) explains it better.
   */
  assertionError: AssertionFailedError | undefined;
}

function lockOp(flags: KeyFlags): Op {
  return hasLockedInShareMode(flags) ? Op.SharedLock : Op.Lock;
}

function assertionOf(flags: KeyFlags, level: AssertionLevel): Assertion {
  if (level === AssertionLevel.Off) return Assertion.None;
  if (hasAssertExist(flags) && !hasAssertNotExist(flags)) return Assertion.Exist;
  if (hasAssertNotExist(flags) && !hasAssertExist(flags)) return Assertion.NotExist;
  return Assertion.None;
}

function opOf(key: Buffer, value: Buffer | undefined, flags: KeyFlags, o: BuildOptions): Op | undefined {
  if (value === undefined) return hasLocked(flags) ? lockOp(flags) : undefined;
  const unnecessary = o.kvFilter?.(key, value, flags) ?? false;
  if (value.length > 0) {
    if (unnecessary) return hasLocked(flags) ? lockOp(flags) : undefined;
    return hasPresumeKeyNotExists(flags) ? Op.Insert : Op.Put;
  }
  if (unnecessary) return undefined;
  // an optimistic delete of a key presumed absent is only checked (it holds no lock)
  if (!o.pessimistic && hasPresumeKeyNotExists(flags)) return Op.CheckNotExists;
  if (hasNewlyInserted(flags)) return hasLocked(flags) ? lockOp(flags) : undefined;
  return Op.Del;
}

function actionOf(flags: KeyFlags): PrewriteRequest_PessimisticAction {
  if (hasLocked(flags)) return PrewriteRequest_PessimisticAction.DO_PESSIMISTIC_CHECK;
  if (hasNeedConstraintCheckInPrewrite(flags)) return PrewriteRequest_PessimisticAction.DO_CONSTRAINT_CHECK;
  return PrewriteRequest_PessimisticAction.SKIP_PESSIMISTIC_CHECK;
}

// what the lock of a key learned against its assertion (existing ts are unknown here: 0); only
// when the lock did learn the existence (client-go assumes a key locked without reading exists)
function lockResultAssertion(key: Buffer, flags: KeyFlags, a: Assertion, startTs: bigint) {
  if (!hasLockedValueKnown(flags)) return undefined;
  const exists = hasLockedValueExists(flags);
  if ((a === Assertion.NotExist && exists) || (a === Assertion.Exist && !exists)) {
    return new AssertionFailedError({
      startTs,
      key,
      assertion: a,
      existingStartTs: 0n,
      existingCommitTs: 0n,
    });
  }
  return undefined;
}

/**
 * The mutations of `buffer`:
 * - a flags-only key is a Lock (SharedLock in share mode) when locked, else nothing;
 * - a value is a Put, or an Insert when the key was presumed absent;
 * - an optimistic delete of a key presumed absent only checks it does not exist; a delete of a
 *   key this transaction inserted is nothing (or a lock when locked); otherwise a Del;
 * - pairs the KV filter calls unnecessary are dropped (kept as locks when locked).
 * The primary is the first key that is neither a CheckNotExists nor a shared lock.
 */
export function buildMutations(buffer: MemDb, o: BuildOptions = {}): BuiltMutations {
  const level = o.assertionLevel ?? AssertionLevel.Off;
  const out: BuiltMutations = {
    mutations: [],
    primaryIndex: -1,
    sizeBytes: 0,
    pessimisticActions: [],
    sharedLocks: 0,
    sharedModeKeys: 0,
    assertionError: undefined,
  };
  for (const e of buffer.iterateWithFlags()) {
    const op = opOf(e.key, e.value, e.flags, o);
    if (op === undefined) continue;
    const value = op === Op.Put || op === Op.Insert ? (e.value as Buffer) : Buffer.alloc(0);
    const assertion = assertionOf(e.flags, level);
    if (op === Op.SharedLock) out.sharedLocks++;
    if (hasLockedInShareMode(e.flags)) out.sharedModeKeys++;
    if (out.primaryIndex < 0 && op !== Op.CheckNotExists && op !== Op.SharedLock) {
      out.primaryIndex = out.mutations.length;
    }
    out.mutations.push({ op, key: e.key, value, assertion });
    if (o.pessimistic) {
      out.pessimisticActions.push(actionOf(e.flags));
      if (level !== AssertionLevel.Off && hasLocked(e.flags) && out.assertionError === undefined) {
        out.assertionError = lockResultAssertion(e.key, e.flags, assertion, o.startTs ?? 0n);
      }
    }
    out.sizeBytes += e.key.length + value.length;
  }
  return out;
}

/**
 * Refuses a commit whose primary (`primaryIndex` in `built.mutations`) would be a shared lock,
 * or which has shared locks but no key fit to be the primary (client-go initKeysAndMutations;
 * lockKeys already keeps shared locks off the primary: this is the last check before any RPC).
 */
export function checkSharedLockPrimary(built: BuiltMutations, primaryIndex: number): void {
  if (built.sharedLocks === 0) return;
  const primary = built.mutations[primaryIndex];
  if (built.primaryIndex < 0 || primary === undefined || primary.op === Op.SharedLock) {
    throw new SharedLockMisuseError("sharedPrimary", primary?.key);
  }
}
