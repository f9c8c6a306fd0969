// How the transactional workloads run a transaction: the commit protocol (mode), begin / body /
// commit with each failure classified (anything before commit cannot have taken effect; a failed
// commit may have), and the settings every txn workload shares.

import type { Snapshot } from "../../api/snapshot.js";
import type { Transaction } from "../../api/transaction.js";
import type { BeginOptions } from "../../api/txn-client.js";
import { InvalidArgumentError } from "../../errors/base.js";
import { classify } from "../classify.js";
import type { OpOutcome, OpValue, Rng, WorkloadClient, WorkloadOptions } from "../types.js";

/**
 * The commit protocol a workload's transactions use: optimistic 2PC, pessimistic (keys locked
 * as they are read for update), async commit, 1PC (falls back to 2PC across regions) or
 * pipelined DML (writes flushed while the transaction runs).
 */
export type TxnMode = "optimistic" | "pessimistic" | "asyncCommit" | "onePC" | "pipelined";

/** Every mode, in the order the suite runs them. */
export const TXN_MODES: readonly TxnMode[] = [
  "optimistic",
  "pessimistic",
  "asyncCommit",
  "onePC",
  "pipelined",
];

/** Options every transactional workload takes (besides the harness's). */
export interface TxnWorkloadOptions extends WorkloadOptions {
  /** Commit protocol (default `settings.mode`, else "optimistic"). */
  mode?: TxnMode;
  /** Key prefix (default `settings.prefix`, else the workload's own). */
  prefix?: string;
}

/** The mode of `opts`; an unknown name is an InvalidArgumentError. */
export function txnModeOf(opts: TxnWorkloadOptions): TxnMode {
  const m = opts.mode ?? opts.settings?.mode ?? "optimistic";
  if (!(TXN_MODES as readonly string[]).includes(m)) {
    throw new InvalidArgumentError(`unknown transaction mode ${m} (one of ${TXN_MODES.join(", ")})`, "mode");
  }
  return m as TxnMode;
}

/** The key prefix of `opts`, or `fallback`. */
export function prefixOf(opts: TxnWorkloadOptions, fallback: string): string {
  return opts.prefix ?? opts.settings?.prefix ?? fallback;
}

/** A positive integer setting (`--opt name=value`), or `fallback`. */
export function intSetting(opts: WorkloadOptions, name: string, fallback: number): number {
  const v = opts.settings?.[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`must be a positive integer, got ${v}`, name);
  return n;
}

/** begin() options of a mode. */
export function beginOptionsOf(mode: TxnMode): BeginOptions {
  switch (mode) {
    case "pessimistic":
      return { pessimistic: true };
    case "asyncCommit":
      return { asyncCommit: true };
    case "onePC":
      return { onePC: true };
    case "pipelined":
      return { pipelined: true };
    default:
      return {};
  }
}

/** What a transaction body may do besides reading and writing. */
export interface TxnScope {
  readonly txn: Transaction;
  readonly mode: TxnMode;
  /**
   * Reads keys the body will update: locked and read at the latest version in pessimistic mode
   * (getForUpdate), read from the snapshot otherwise (the commit then checks for conflicts).
   */
  readForUpdate(keys: readonly string[]): Promise<Array<Buffer | undefined>>;
  /** Ends the transaction without effect: the operation is recorded as fail with `why`. */
  abort(why: string): never;
}

class Abort extends Error {}

/**
 * How long a pessimistic lock waits before giving up (LockWaitTimeoutError, a definite fail). A
 * crashed client's locks block others until their TTL ends; an unbounded wait would stall the
 * run behind them.
 */
export const LOCK_WAIT_MS = 2000;

/** How long a lock call or a commit's prewrite may take in all before it is abandoned (aborted). */
export const LOCK_CALL_MS = 4000;

/**
 * Runs `body` in a new transaction of `mode` and commits it. Failures before the commit are
 * fail (nothing was committed; the transaction is rolled back), a failed commit is classified
 * as a write (info when the outcome is unknown).
 *
 * @example
 * ```ts
 * return runInTxn(client, "pessimistic", async ({ txn, readForUpdate }) => {
 *   const [v] = await readForUpdate(["k"]);
 *   txn.set("k", String(Number(v ?? 0) + 1));
 *   return null;
 * });
 * ```
 */
export async function runInTxn(
  client: WorkloadClient,
  mode: TxnMode,
  body: (scope: TxnScope) => Promise<OpValue>,
): Promise<OpOutcome> {
  let txn: Transaction;
  try {
    txn = await client.txn().begin(beginOptionsOf(mode));
  } catch (e) {
    return classify(e, "read");
  }
  const scope: TxnScope = {
    txn,
    mode,
    readForUpdate: (keys) =>
      mode === "pessimistic"
        ? // the signal also ends a lock request whose reply was lost (its RPC timeout is 30 s)
          txn.batchGetForUpdate(keys, {
            waitTimeoutMs: LOCK_WAIT_MS,
            signal: AbortSignal.timeout(LOCK_CALL_MS),
          })
        : txn.batchGet(keys),
    abort: (why) => {
      throw new Abort(why);
    },
  };
  let value: OpValue;
  try {
    value = await body(scope);
  } catch (e) {
    await txn.rollback().catch(() => undefined);
    if (e instanceof Abort) return { type: "fail", error: e.message };
    return classify(e, "read");
  }
  try {
    // a lost prewrite reply ends the commit too (the primary commit is never interrupted)
    await txn.commit({ signal: AbortSignal.timeout(LOCK_CALL_MS) });
  } catch (e) {
    return classify(e, "write");
  }
  return { type: "ok", value };
}

/**
 * A snapshot read's timestamp: fresh, or `ageMs` older than a fresh one (a stale read), but not
 * below `floor` (e.g. the commit ts of the workload's setup).
 */
export async function readTs(client: WorkloadClient, ageMs: number, floor = 0n): Promise<bigint> {
  const now = await client.txn().currentTimestamp();
  if (ageMs <= 0) return now;
  // a TSO timestamp is physical ms << 18 | logical
  const ts = ((now >> 18n) - BigInt(ageMs)) << 18n;
  return ts > floor ? ts : floor;
}

/**
 * How a probe reads: a fresh read at the leader, through a follower or any replica (TiKV
 * ReadIndex: linearizable as a leader read), or a stale read at a past ts that any replica whose
 * safe ts covers it may serve (else the leader).
 */
export type ReadPath = "leader" | "follower" | "mixed" | "stale";

/** A probe read: `ageMs` > 0 exactly for a stale read. */
export interface ProbeRead {
  ageMs: number;
  path: ReadPath;
}

/** Draws a probe read: a stale one `1..maxAgeMs` old with probability `staleShare`, else fresh by a random path. */
export function pickProbeRead(rng: Rng, staleShare: number, maxAgeMs: number): ProbeRead {
  if (rng.next() < staleShare) return { ageMs: 1 + rng.int(maxAgeMs), path: "stale" };
  return { ageMs: 0, path: rng.pick(["leader", "follower", "mixed"] as const) };
}

/**
 * The snapshot a probe read uses, through the client's real stale / replica read API (an op
 * value recorded before the replica paths existed, without `path`, reads from the leader).
 */
export async function probeSnapshot(
  client: WorkloadClient,
  read: { ageMs?: unknown; path?: unknown },
  floor = 0n,
): Promise<{ ts: bigint; snap: Snapshot }> {
  const ageMs = Number(read.ageMs ?? 0);
  const ts = await readTs(client, ageMs, floor);
  const path = ageMs > 0 ? "stale" : String(read.path ?? "leader");
  const txn = client.txn();
  if (path === "stale") return { ts, snap: await txn.snapshot(ts, { staleRead: true }) };
  if (path === "follower" || path === "mixed")
    return { ts, snap: await txn.snapshot(ts, { replicaRead: path }) };
  return { ts, snap: await txn.snapshot(ts) };
}
