// Key encoding inside request/response messages. Follows client-go internal/apicodec/codec_v2.go
// (decodeRegionError, decodeKeyError, decodeLockInfo, decodePairs, decodeMvccInfo, encodeMutations...)
// and codec_v1.go (API v1 only decodes region boundaries in region errors).
//
// Response decoders mutate the message in place (responses are freshly deserialised and owned by
// the caller) and return it. Request encoders never mutate their input: requests are reused on retry.

import { KeyOutOfKeyspaceError } from "../errors/codec.js";
import type { WaitForEntry } from "../proto/deadlock.js";
import type { Error as RegionError } from "../proto/errorpb.js";
import type { KeyError, KeyRange, KvPair, LockInfo, Mutation, MvccInfo } from "../proto/kvrpcpb.js";
import type { Region } from "../proto/metapb.js";
import type { ApiCodec } from "./api-codec.js";

/** Encodes the keys of mutations (copies; the input is not modified). */
export function encodeMutations(codec: ApiCodec, mutations: readonly Mutation[]): Mutation[] {
  if (!codec.encodesKeys) return mutations as Mutation[];
  return mutations.map((m) => ({ ...m, key: codec.encodeKey(m.key) }));
}

/** Encodes the keys of key-value pairs (copies; the input is not modified). */
export function encodePairs(codec: ApiCodec, pairs: readonly KvPair[]): KvPair[] {
  if (!codec.encodesKeys) return pairs as KvPair[];
  return pairs.map((p) => ({ ...p, key: codec.encodeKey(p.key) }));
}

/** Encodes kvrpcpb key ranges; an empty end becomes the keyspace end in API v2. */
export function encodeKeyRanges(codec: ApiCodec, ranges: readonly KeyRange[]): KeyRange[] {
  if (!codec.encodesKeys) return ranges as KeyRange[];
  return ranges.map((r) => {
    const e = codec.encodeRange(r.startKey, r.endKey);
    return { startKey: e.start, endKey: e.end };
  });
}

/** Strips the keyspace prefix from every key of a LockInfo, including nested shared locks. */
export function decodeLockInfo(codec: ApiCodec, info: LockInfo): LockInfo {
  if (!codec.encodesKeys) return info;
  info.key = codec.decodeKey(info.key);
  info.primaryLock = codec.decodeKey(info.primaryLock);
  for (let i = 0; i < info.secondaries.length; i++)
    info.secondaries[i] = codec.decodeKey(info.secondaries[i]!);
  for (const shared of info.sharedLockInfos) decodeLockInfo(codec, shared);
  return info;
}

/** {@link decodeLockInfo} over a list. */
export function decodeLockInfos(codec: ApiCodec, locks: LockInfo[]): LockInfo[] {
  if (codec.encodesKeys) for (const l of locks) decodeLockInfo(codec, l);
  return locks;
}

/** Strips the keyspace prefix from the lock keys of MVCC debug info; empty keys stay empty. */
export function decodeMvccInfo(codec: ApiCodec, info: MvccInfo | undefined): MvccInfo | undefined {
  const lock = info?.lock;
  if (!codec.encodesKeys || !lock) return info;
  lock.primary = codec.decodeKey(lock.primary);
  for (let i = 0; i < lock.secondaries.length; i++)
    lock.secondaries[i] = codec.decodeKey(lock.secondaries[i]!);
  return info;
}

/** Strips the keyspace prefix from the keys of deadlock wait-for entries. */
export function decodeWaitForEntries(codec: ApiCodec, entries: WaitForEntry[]): WaitForEntry[] {
  if (codec.encodesKeys) for (const e of entries) e.key = codec.decodeKey(e.key);
  return entries;
}

/** Strips the keyspace prefix from every key a KeyError carries. */
export function decodeKeyError(codec: ApiCodec, keyErr: KeyError): KeyError {
  if (!codec.encodesKeys) return keyErr;
  if (keyErr.locked) decodeLockInfo(codec, keyErr.locked);
  const c = keyErr.conflict;
  if (c) {
    c.key = codec.decodeKey(c.key);
    c.primary = codec.decodeKey(c.primary);
  }
  if (keyErr.alreadyExist) keyErr.alreadyExist.key = codec.decodeKey(keyErr.alreadyExist.key);
  const d = keyErr.deadlock;
  if (d) {
    d.lockKey = codec.decodeKey(d.lockKey);
    d.deadlockKey = codec.decodeKey(d.deadlockKey);
    decodeWaitForEntries(codec, d.waitChain);
  }
  if (keyErr.commitTsExpired) keyErr.commitTsExpired.key = codec.decodeKey(keyErr.commitTsExpired.key);
  if (keyErr.txnNotFound) keyErr.txnNotFound.primaryKey = codec.decodeKey(keyErr.txnNotFound.primaryKey);
  if (keyErr.assertionFailed) keyErr.assertionFailed.key = codec.decodeKey(keyErr.assertionFailed.key);
  if (keyErr.primaryMismatch?.lockInfo) decodeLockInfo(codec, keyErr.primaryMismatch.lockInfo);
  if (keyErr.txnLockNotFound) keyErr.txnLockNotFound.key = codec.decodeKey(keyErr.txnLockNotFound.key);
  // Newer kinds (shared locks) also carry keys; client-go does not decode them yet.
  if (keyErr.lockUpgradeConflict)
    keyErr.lockUpgradeConflict.key = codec.decodeKey(keyErr.lockUpgradeConflict.key);
  if (keyErr.sharedLockLost) keyErr.sharedLockLost.key = codec.decodeKey(keyErr.sharedLockLost.key);
  if (keyErr.debugInfo) {
    for (const m of keyErr.debugInfo.mvccInfo) {
      m.key = codec.decodeKey(m.key);
      decodeMvccInfo(codec, m.mvcc);
    }
  }
  return keyErr;
}

/** {@link decodeKeyError} over a list. */
export function decodeKeyErrors(codec: ApiCodec, keyErrs: KeyError[]): KeyError[] {
  if (codec.encodesKeys) for (const e of keyErrs) decodeKeyError(codec, e);
  return keyErrs;
}

/** Strips the keyspace prefix from pair keys (non-empty ones) and from per-pair key errors. */
export function decodePairs(codec: ApiCodec, pairs: KvPair[]): KvPair[] {
  if (!codec.encodesKeys) return pairs;
  for (const p of pairs) {
    if (p.error) decodeKeyError(codec, p.error);
    if (p.key.length > 0) p.key = codec.decodeKey(p.key);
  }
  return pairs;
}

/**
 * Decodes the keys of a region error: KeyNotInRegion's key and region range, and the regions of
 * EpochNotMatch. In API v2, EpochNotMatch regions outside the keyspace are dropped (they are
 * someone else's business), as client-go does; other decode failures are thrown.
 */
export function decodeRegionError(codec: ApiCodec, err: RegionError): RegionError {
  const kn = err.keyNotInRegion;
  if (kn) {
    if (codec.encodesKeys) kn.key = codec.decodeKey(kn.key);
    const r = codec.decodeRegionRange(kn.startKey, kn.endKey);
    kn.startKey = r.start;
    kn.endKey = r.end;
  }
  const en = err.epochNotMatch;
  if (en) {
    const kept: Region[] = [];
    for (const region of en.currentRegions) {
      try {
        const r = codec.decodeRegionRange(region.startKey, region.endKey);
        region.startKey = r.start;
        region.endKey = r.end;
        kept.push(region);
      } catch (e) {
        if (!(e instanceof KeyOutOfKeyspaceError)) throw e;
      }
    }
    en.currentRegions = kept;
  }
  return err;
}

/** Decodes the boundaries of regions (e.g. a SplitRegion response); any failure is thrown. */
export function decodeRegions(codec: ApiCodec, regions: Region[]): Region[] {
  for (const region of regions) {
    const r = codec.decodeRegionRange(region.startKey, region.endKey);
    region.startKey = r.start;
    region.endKey = r.end;
  }
  return regions;
}
