// Helpers of the pipelined transaction suites (pipelined*.test.ts): the timing knobs set for a
// suite and restored after it, the engine's view of a transaction's locks, and key spreading.

import { afterAll, beforeAll } from "vitest";
import { pipelinedKnobs } from "../../../src/actors/txn/pipelined/knobs.js";
import type { PipelinedTransaction } from "../../../src/api/pipelined-transaction.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { type LockInfo, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import { type ClusterHandle, useCluster } from "../../support/cluster.js";

type Knobs = typeof pipelinedKnobs;

/** Sets `knobs` for the suite (restored after it). */
export function useKnobs(knobs: Partial<Knobs>): void {
  const saved = { ...pipelinedKnobs };
  beforeAll(() => {
    Object.assign(pipelinedKnobs, knobs);
  });
  afterAll(() => {
    Object.assign(pipelinedKnobs, saved);
  });
}

/** Sets `knobs` for one test; returns the function that restores them. */
export function withKnobs(knobs: Partial<Knobs>): () => void {
  const saved = { ...pipelinedKnobs };
  Object.assign(pipelinedKnobs, knobs);
  return () => {
    Object.assign(pipelinedKnobs, saved);
  };
}

/** Small flush thresholds: a generation every `keys` keys (the rules of client-go's, scaled down). */
export const smallFlushes = (keys: number) => ({
  minFlushKeys: keys,
  minFlushMemSize: 1,
  forceFlushMemSize: 64 * 1024 * 1024,
});

/** Every lock of `startTs` the engine holds (undefined ts: every lock). */
export function locksOf(env: ClusterHandle, startTs?: bigint): LockInfo[] {
  const all = env.cluster.txnEngine.scanLock(ScanLockRequest.fromPartial({ maxVersion: MAX_TS, limit: 0 }));
  return startTs === undefined ? all.locks : all.locks.filter((l) => l.lockVersion === startTs);
}

/** Keys spread over the regions split at "g" and "p": `${letter}${prefix}${i}`. */
export function spreadKeys(prefix: string, n: number): string[] {
  const letters = ["a", "h", "q"];
  return Array.from({ length: n }, (_, i) => `${letters[i % 3]}${prefix}${String(i).padStart(6, "0")}`);
}

export { eventually } from "../../support/wait.js";

/** The flushed values TiKV's buffer holds for `keys` of `txn` (client-go BatchGetWithTier buffer tier). */
export function remoteBuffer(txn: PipelinedTransaction, keys: string[]): Promise<Map<string, Buffer>> {
  return txn.committer.bufferBatchGet(keys.map((k) => Buffer.from(k)));
}

export { sleep } from "../../support/wait.js";

/**
 * The cluster of the pipelined suites (3 stores, regions split at "g" and "p", memcomparable
 * keys) with quick broadcasts and a generation every 100 keys.
 */
export function usePipelinedCluster(): ClusterHandle {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  useKnobs({ broadcastGraceMs: 20, flushThresholds: smallFlushes(100) });
  return env;
}
