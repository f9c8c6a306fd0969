// Small request builders and assertions shared by the txn engine tests (in the spirit of
// tikv's must_prewrite_put / must_commit helpers and client-go mocktikv's mustXxxOK).
import { expect } from "vitest";
import { MvccReader } from "../../../../src/cluster/engine/mvcc/reader.js";
import { MvccTxn } from "../../../../src/cluster/engine/mvcc/txn.js";
import {
  isSharedLocks,
  type Lock,
  newLock,
  type SharedLocks,
} from "../../../../src/cluster/engine/mvcc/types.js";
import { TxnEngine } from "../../../../src/cluster/engine/txn/txn-engine.js";
import { composeTs } from "../../../../src/kv/timestamp.js";
import {
  Assertion,
  AssertionLevel,
  type Context,
  IsolationLevel,
  type KeyError,
  type Mutation,
  Op,
  PrewriteRequest_PessimisticAction as PA,
  type PrewriteRequest,
  type PrewriteResponse,
} from "../../../../src/proto/kvrpcpb.js";

export { Assertion, AssertionLevel, IsolationLevel, Op, PA };

/** Buffer from a string. */
export const b = (s: string): Buffer => Buffer.from(s, "latin1");

/** A fresh engine. */
export function newEngine(): TxnEngine {
  return new TxnEngine();
}

/** Timestamp with a physical part in ms, as TiKV's TTL checks use it. */
export function tsAt(physicalMs: number, logical = 0): bigint {
  return composeTs(physicalMs, logical);
}

/** A mutation. */
export function mut(op: Op, key: string, value = "", assertion = Assertion.None): Mutation {
  return { op, key: b(key), value: b(value), assertion };
}

/** Put mutations from key, value pairs. */
export function puts(...kv: string[]): Mutation[] {
  const out: Mutation[] = [];
  for (let i = 0; i < kv.length; i += 2) out.push(mut(Op.Put, kv[i] as string, kv[i + 1] as string));
  return out;
}

/** Prewrite with defaults (primary = first key). */
export function prewrite(
  e: TxnEngine,
  mutations: Mutation[],
  startTs: bigint,
  extra: Partial<PrewriteRequest> = {},
): PrewriteResponse {
  return e.prewrite({
    context: undefined,
    mutations,
    primaryLock: mutations[0]?.key ?? b(""),
    startVersion: startTs,
    lockTtl: 3000n,
    skipConstraintCheck: false,
    pessimisticActions: [],
    txnSize: BigInt(mutations.length),
    forUpdateTs: 0n,
    minCommitTs: 0n,
    useAsyncCommit: false,
    secondaries: [],
    tryOnePc: false,
    maxCommitTs: 0n,
    assertionLevel: AssertionLevel.Off,
    forUpdateTsConstraints: [],
    txnFileChunks: [],
    ...extra,
  });
}

/** Prewrite that must succeed. */
export function mustPrewrite(
  e: TxnEngine,
  mutations: Mutation[],
  startTs: bigint,
  extra: Partial<PrewriteRequest> = {},
): PrewriteResponse {
  const r = prewrite(e, mutations, startTs, extra);
  expect(r.errors).toEqual([]);
  return r;
}

/** Prewrite that must fail; returns the errors. */
export function mustPrewriteErr(
  e: TxnEngine,
  mutations: Mutation[],
  startTs: bigint,
  extra: Partial<PrewriteRequest> = {},
): KeyError[] {
  const r = prewrite(e, mutations, startTs, extra);
  expect(r.errors.length).toBeGreaterThan(0);
  return r.errors;
}

/** Commit keys; returns the KeyError if any. */
export function commit(
  e: TxnEngine,
  keys: string[],
  startTs: bigint,
  commitTs: bigint,
): KeyError | undefined {
  return e.commit({
    context: undefined,
    startVersion: startTs,
    keys: keys.map(b),
    commitVersion: commitTs,
    commitRole: 0,
    primaryKey: b(keys[0] ?? ""),
    useAsyncCommit: false,
    isTxnFile: false,
  }).error;
}

/** Commit that must succeed. */
export function mustCommit(e: TxnEngine, keys: string[], startTs: bigint, commitTs: bigint): void {
  expect(commit(e, keys, startTs, commitTs)).toBeUndefined();
}

/** Put key=value through prewrite + commit. */
export function mustPut(e: TxnEngine, key: string, value: string, startTs: bigint, commitTs: bigint): void {
  mustPrewrite(e, puts(key, value), startTs);
  mustCommit(e, [key], startTs, commitTs);
}

/** Delete key through prewrite + commit. */
export function mustDelete(e: TxnEngine, key: string, startTs: bigint, commitTs: bigint): void {
  mustPrewrite(e, [mut(Op.Del, key)], startTs);
  mustCommit(e, [key], startTs, commitTs);
}

/** Rollback keys; returns the KeyError if any. */
export function rollback(e: TxnEngine, keys: string[], startTs: bigint): KeyError | undefined {
  return e.batchRollback({ context: undefined, startVersion: startTs, keys: keys.map(b), isTxnFile: false })
    .error;
}

/** Get at ts (SI unless ctx says otherwise). */
export function get(e: TxnEngine, key: string, ts: bigint, ctx: Partial<Context> = {}) {
  return e.get({ context: ctx as Context, key: b(key), version: ts, needCommitTs: false });
}

/** Value at ts, or undefined when not found; fails on error. */
export function mustGet(
  e: TxnEngine,
  key: string,
  ts: bigint,
  ctx: Partial<Context> = {},
): string | undefined {
  const r = get(e, key, ts, ctx);
  expect(r.error).toBeUndefined();
  return r.notFound ? undefined : r.value.toString("latin1");
}

/** The lock error of a get at ts. */
export function mustGetLocked(e: TxnEngine, key: string, ts: bigint, ctx: Partial<Context> = {}) {
  const r = get(e, key, ts, ctx);
  expect(r.error?.locked).toBeDefined();
  return r.error?.locked;
}

/** Exclusive lock of key in the store (fails the test on shared locks). */
export function lockOf(e: TxnEngine, key: string): Lock | undefined {
  const r = e.store.lockCf.get(b(key).toString("latin1"));
  if (r && isSharedLocks(r)) throw new Error(`${key} holds shared locks, not an exclusive lock`);
  return r;
}

/** Shared locks of key in the store (fails the test on an exclusive lock). */
export function sharedLocksOf(e: TxnEngine, key: string): SharedLocks | undefined {
  const r = e.store.lockCf.get(b(key).toString("latin1"));
  if (r && !isSharedLocks(r)) throw new Error(`${key} holds an exclusive lock, not shared locks`);
  return r;
}

/** Write records of key, newest first. */
export function writesOf(e: TxnEngine, key: string) {
  return e.store.writeCf.get(b(key).toString("latin1")) ?? [];
}

/** Check txn status with defaults. */
export function checkTxnStatus(
  e: TxnEngine,
  primary: string,
  lockTs: bigint,
  callerStartTs: bigint,
  currentTs: bigint,
  opts: {
    rollbackIfNotExist?: boolean;
    forceSyncCommit?: boolean;
    resolvingPessimisticLock?: boolean;
    verifyIsPrimary?: boolean;
  } = {},
) {
  return e.checkTxnStatus({
    context: undefined,
    primaryKey: b(primary),
    lockTs,
    callerStartTs,
    currentTs,
    rollbackIfNotExist: opts.rollbackIfNotExist ?? false,
    forceSyncCommit: opts.forceSyncCommit ?? false,
    resolvingPessimisticLock: opts.resolvingPessimisticLock ?? false,
    verifyIsPrimary: opts.verifyIsPrimary ?? false,
    isTxnFile: false,
  });
}

/** Scan values as [key, value] strings (fails on any error). */
export function scanKV(
  e: TxnEngine,
  start: string,
  end: string,
  limit: number,
  ts: bigint,
  opts: { reverse?: boolean; keyOnly?: boolean; ctx?: Partial<Context> } = {},
): string[] {
  const r = e.scan({
    context: (opts.ctx ?? {}) as Context,
    startKey: b(start),
    endKey: b(end),
    limit,
    version: ts,
    keyOnly: opts.keyOnly ?? false,
    reverse: opts.reverse ?? false,
    sampleStep: 0,
  });
  expect(r.error).toBeUndefined();
  const out: string[] = [];
  for (const p of r.pairs) {
    expect(p.error).toBeUndefined();
    out.push(p.key.toString("latin1"), p.value.toString("latin1"));
  }
  return out;
}

/**
 * Places a pessimistic lock directly in the store, standing in for TiKV's
 * must_acquire_pessimistic_lock* test helpers (the real KvPessimisticLock command belongs to
 * the pessimistic engine and is tested there). `minCommitTs` 0 = not a large txn.
 */
export function putPessimisticLock(
  e: TxnEngine,
  key: string,
  primary: string,
  startTs: bigint,
  forUpdateTs: bigint,
  ttl = 100n,
  minCommitTs = 0n,
  isLockedWithConflict = false,
): void {
  const txn = new MvccTxn(startTs);
  txn.putLock(
    b(key),
    newLock({
      lockType: "Pessimistic",
      primary: b(primary),
      startTs,
      ttl,
      forUpdateTs,
      minCommitTs,
      isLockedWithConflict,
    }),
    true,
  );
  e.store.write(txn);
}

/** Pessimistic prewrite of puts with one action for all keys. */
export function pessimisticPrewrite(
  e: TxnEngine,
  mutations: Mutation[],
  primary: string,
  startTs: bigint,
  forUpdateTs: bigint,
  action: PA = PA.DO_PESSIMISTIC_CHECK,
  extra: Partial<PrewriteRequest> = {},
): PrewriteResponse {
  return prewrite(e, mutations, startTs, {
    primaryLock: b(primary),
    forUpdateTs,
    pessimisticActions: mutations.map(() => action),
    ...extra,
  });
}

/** Asserts key's newest record at or below ts is of the given type / start ts. */
export function seekWrite(e: TxnEngine, key: string, ts: bigint) {
  return new MvccReader(e.store).seekWrite(b(key), ts);
}

/** commit_ts / rollback of startTs on key, from the write CF. */
export function commitRecord(e: TxnEngine, key: string, startTs: bigint) {
  return new MvccReader(e.store).getTxnCommitRecord(b(key), startTs);
}
