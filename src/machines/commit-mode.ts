// Pure policy of how a transaction commits (client-go 2pc.go checkAsyncCommit / checkOnePC /
// calculateMaxCommitTS and prewrite.go's handling of min_commit_ts / one_pc_commit_ts): which
// protocol to try, the commit-ts window, and how prewrite answers make it fall back to 2PC.

import { composeTs, physicalOf } from "../kv/timestamp.js";

/** The protocol a commit uses. */
export type CommitMode = "2pc" | "asyncCommit" | "onePC";

/** client-go AsyncCommit config defaults. */
export const ASYNC_COMMIT_KEYS_LIMIT = 256;
export const ASYNC_COMMIT_TOTAL_KEY_SIZE_LIMIT = 4096;
export const ASYNC_COMMIT_SAFE_WINDOW_MS = 2000;

/** What the choice depends on. */
export interface CommitModeInput {
  asyncCommit: boolean;
  onePC: boolean;
  keyCount: number;
  keyBytes: number;
  hasSharedLocks?: boolean;
  pipelined?: boolean;
}

/** Which protocols to try: 1PC when enabled (it falls back on more than one batch), async commit within its limits. */
export function chooseCommitModes(i: CommitModeInput): { asyncCommit: boolean; onePC: boolean } {
  if (i.hasSharedLocks || i.pipelined) return { asyncCommit: false, onePC: false };
  const asyncCommit =
    i.asyncCommit && i.keyCount <= ASYNC_COMMIT_KEYS_LIMIT && i.keyBytes <= ASYNC_COMMIT_TOTAL_KEY_SIZE_LIMIT;
  return { asyncCommit, onePC: i.onePC };
}

/** The largest commit ts an async-commit / 1PC prewrite may end with (start + elapsed + safe window). */
export function maxCommitTs(
  startTs: bigint,
  elapsedMs: number,
  safeWindowMs = ASYNC_COMMIT_SAFE_WINDOW_MS,
): bigint {
  return startTs + composeTs(Math.max(0, Math.floor(elapsedMs)) + safeWindowMs, 0);
}

/** What one prewrite answer does to the protocol (client-go prewrite handleSingleBatch). */
export type PrewriteVerdict =
  | { kind: "keep" }
  /** 1PC declined by TiKV: plain 2PC from now on (async commit off too). */
  | { kind: "onePCFallback" }
  /** 1PC done: the transaction is committed at `commitTs`. */
  | { kind: "onePCCommitted"; commitTs: bigint }
  /** async commit declined (min_commit_ts 0): plain 2PC. */
  | { kind: "asyncCommitFallback" }
  /** async commit: this batch's min_commit_ts. */
  | { kind: "asyncMinCommitTs"; minCommitTs: bigint }
  /** The answer contradicts the protocol. */
  | { kind: "protocolError"; message: string };

/** Classifies a successful prewrite answer under the current protocol. */
export function prewriteVerdict(
  mode: { asyncCommit: boolean; onePC: boolean },
  resp: { minCommitTs: bigint; onePcCommitTs: bigint },
): PrewriteVerdict {
  if (mode.onePC) {
    if (resp.onePcCommitTs === 0n) {
      if (resp.minCommitTs !== 0n)
        return { kind: "protocolError", message: "MinCommitTs must be 0 when 1pc falls back to 2pc" };
      return { kind: "onePCFallback" };
    }
    return { kind: "onePCCommitted", commitTs: resp.onePcCommitTs };
  }
  if (resp.onePcCommitTs !== 0n)
    return { kind: "protocolError", message: "tikv committed a non-1pc transaction with 1pc protocol" };
  if (mode.asyncCommit) {
    if (resp.minCommitTs === 0n) return { kind: "asyncCommitFallback" };
    return { kind: "asyncMinCommitTs", minCommitTs: resp.minCommitTs };
  }
  return { kind: "keep" };
}

/** Ms of physical time between two timestamps (for TTL and expiry checks). */
export function physicalGapMs(from: bigint, to: bigint): number {
  return physicalOf(to) - physicalOf(from);
}
