// The mutations of an optimistic transaction, built from its buffer in key order (client-go
// 2pc.go initKeysAndMutations): what each buffered key turns into at prewrite, which key is the
// primary, and how many bytes the transaction writes.

import {
  hasAssertExist,
  hasAssertNotExist,
  hasLocked,
  hasNewlyInserted,
  hasPresumeKeyNotExists,
} from "../../kv/memdb/key-flags.js";
import type { MemDb } from "../../kv/memdb/memdb.js";
import { Assertion, type Mutation, Op } from "../../proto/kvrpcpb.js";

/** A transaction's writes, ready for the committer. */
export interface BuiltMutations {
  /** In key order. */
  mutations: Mutation[];
  /** Index of the primary (-1 when there is nothing to commit). */
  primaryIndex: number;
  /** Key + value bytes. */
  sizeBytes: number;
}

function assertionOf(flags: number): Assertion {
  if (hasAssertExist(flags) && !hasAssertNotExist(flags)) return Assertion.Exist;
  if (hasAssertNotExist(flags) && !hasAssertExist(flags)) return Assertion.NotExist;
  return Assertion.None;
}

/**
 * The mutations of `buffer`:
 * - a flags-only key is a Lock when locked, else nothing;
 * - a value is a Put, or an Insert when the key was presumed absent;
 * - a delete of a key presumed absent only checks it does not exist (prewrite only); a delete of
 *   a key this transaction inserted is nothing (or a Lock when locked); otherwise a Del.
 * The primary is the first key that is not a CheckNotExists.
 */
export function buildMutations(buffer: MemDb): BuiltMutations {
  const mutations: Mutation[] = [];
  let primaryIndex = -1;
  let sizeBytes = 0;
  for (const e of buffer.iterateWithFlags()) {
    let op: Op | undefined;
    const v = e.value;
    if (v === undefined) {
      if (hasLocked(e.flags)) op = Op.Lock;
    } else if (v.length > 0) {
      op = hasPresumeKeyNotExists(e.flags) ? Op.Insert : Op.Put;
    } else if (hasPresumeKeyNotExists(e.flags)) {
      op = Op.CheckNotExists;
    } else if (hasNewlyInserted(e.flags)) {
      if (hasLocked(e.flags)) op = Op.Lock;
    } else {
      op = Op.Del;
    }
    if (op === undefined) continue;
    const value = op === Op.Put || op === Op.Insert ? (v as Buffer) : Buffer.alloc(0);
    if (primaryIndex < 0 && op !== Op.CheckNotExists) primaryIndex = mutations.length;
    mutations.push({ op, key: e.key, value, assertion: assertionOf(e.flags) });
    sizeBytes += e.key.length + value.length;
  }
  return { mutations, primaryIndex, sizeBytes };
}
