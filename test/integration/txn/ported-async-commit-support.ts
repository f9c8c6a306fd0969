// Helpers of the ported client-go async-commit and 1PC tests (ported-async-commit*.test.ts,
// ported-1pc.test.ts): a committer that "goes away" after prewrite (its commits dropped, like
// client-go's asyncCommitDoNothing failpoint), time passing on PD's clock (so lock TTLs run out
// without sleeping), TiKV's max_ts pushed past the async-commit window (so TiKV declines async
// commit / 1PC), and lookups of what the client sent.

import { status } from "@grpc/grpc-js";
import type { RpcName } from "../../../src/cluster/faults/rpc-names.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { GetRequest, type LockInfo, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import { type ClusterHandle, useCluster } from "../../support/cluster.js";

import { b, str } from "../../support/values.js";

export { b, str };

/** Milliseconds as a timestamp difference (physical part). */
export const msTs = (ms: number): bigint => BigInt(ms) << 18n;

/** Something that hands out timestamps (a TxnClient). */
export interface Clock {
  currentTimestamp(): Promise<bigint>;
}

/**
 * The embedded cluster's wall clock (PD's TSO, the engines), which a test can move ahead: pass
 * `now` to `useCluster`. Unlike a scripted TSO jump, time keeps running afterwards.
 */
export class TestClock {
  private skewMs = 0;
  /** The cluster's wall clock in ms. */
  readonly now = (): number => Date.now() + this.skewMs;
  /** Moves the clock `ms` ahead. */
  advance(ms: number): void {
    this.skewMs += ms;
  }
}

const touchesPrefix = (keys: readonly Uint8Array[] | undefined, prefix: string) =>
  (keys ?? []).some((k) => Buffer.from(k).toString().includes(prefix));

/**
 * Drops every KvCommit of keys containing `prefix` (answered with a key error, never applied):
 * the committer gave up after its prewrite, its locks stay for others to resolve. Returns the
 * function that lets commits through again.
 */
export function dropCommits(env: ClusterHandle, prefix: string): () => void {
  return env.cluster.faults.onRequest((call) => {
    if (call.rpc !== "KvCommit" || !touchesPrefix(call.keys, prefix)) return undefined;
    return { keyError: { abort: "injected: the committer went away" } };
  });
}

/**
 * Stops `client` when its first KvCommit of keys containing `prefix` arrives (that commit, and
 * every later one of those keys, fails unapplied): the writer crashed between prewrite and
 * commit. `closed()` resolves once the client is closed; `off()` removes the fault.
 */
export function closeOnFirstCommit(
  env: ClusterHandle,
  client: { close(): Promise<void> },
  prefix: string,
): { closed: () => Promise<void>; off: () => void } {
  let closing: Promise<void> | undefined;
  let signal!: () => void;
  const started = new Promise<void>((r) => {
    signal = r;
  });
  const off = env.cluster.faults.onRequest((call) => {
    if (call.rpc !== "KvCommit" || !touchesPrefix(call.keys, prefix)) return undefined;
    if (!closing) {
      closing = client.close();
      signal();
    }
    return { grpcStatus: status.UNAVAILABLE, message: "injected: the writer went away" };
  });
  return {
    closed: async () => {
      await started;
      await closing;
    },
    off,
  };
}

/**
 * Lets `ms` pass on the cluster's clock and refreshes the given clients' latest ts, so lock TTLs
 * shorter than that ran out for them. Returns the last ts fetched.
 */
export async function passTime(clock: TestClock, ms: number, clients: readonly Clock[]): Promise<bigint> {
  clock.advance(ms);
  let last = 0n;
  for (const c of clients) last = await c.currentTimestamp();
  return last;
}

/**
 * Raises TiKV's max_ts `ms` into the future with a read there (as a reader from the future
 * would), so that prewrites after it need a min_commit_ts past the async-commit window; the
 * clock is then moved past that point so that later transactions start above it. Returns the
 * ts read at.
 */
export async function pushMaxTs(env: ClusterHandle, clock: TestClock, t: Clock, ms: number): Promise<bigint> {
  const ts = (await t.currentTimestamp()) + msTs(ms);
  env.cluster.txnEngine.get(GetRequest.fromPartial({ key: b("\u0000max-ts-push"), version: ts }));
  clock.advance(ms + 1);
  return ts;
}

/** Splits the region holding `key` at `key` (the client learns it from the next epoch error). */
export function splitAt(env: ClusterHandle, key: string): void {
  const r = env.cluster.topology.locateKey(b(key));
  if (!r) throw new Error(`no region holds ${key}`);
  env.cluster.topology.splitRegion(r.id, [b(key)]);
}

/** Every lock the engine holds on a key containing `prefix`, in key order. */
export function locksUnder(env: ClusterHandle, prefix: string): LockInfo[] {
  const all = env.cluster.txnEngine.scanLock(
    ScanLockRequest.fromPartial({ maxVersion: MAX_TS, limit: 100_000 }),
  );
  return all.locks.filter((l) => l.key.toString().includes(prefix));
}

export { eventually } from "../../support/wait.js";

/** The requests of `rpc` touching `prefix` the stores receive until `stop()`. */
export function recordFor<T>(
  env: ClusterHandle,
  rpc: RpcName,
  prefix: string,
): { seen: T[]; stop: () => void } {
  const seen: T[] = [];
  const stop = env.cluster.faults.onRequest((call) => {
    if (call.rpc !== rpc || call.request === undefined) return undefined;
    const req = call.request as { primaryKey?: Uint8Array; primaryLock?: Uint8Array };
    const keys = [...(call.keys ?? []), ...[req.primaryKey, req.primaryLock].filter((k) => k !== undefined)];
    if (touchesPrefix(keys, prefix)) seen.push(call.request as T);
    return undefined;
  });
  return { seen, stop };
}

/**
 * The cluster of the async-commit and 1PC ports: 3 stores, regions split at "g" and "p",
 * memcomparable keys, PD's TSO and the engines on a {@link TestClock}. `prewriteBudgetMs` shortens
 * the prewrite budget for the suite (restored after it).
 */
export function useClockedCluster(opts: { prewriteBudgetMs?: number } = {}): {
  env: ClusterHandle;
  clock: TestClock;
} {
  const clock = new TestClock();
  const env = useCluster({
    stores: 3,
    splitKeys: ["g", "p"],
    regionKeyEncoding: "memcomparable",
    now: clock.now,
    // These tests assert exact min_commit_ts values from max_ts; the resolved-ts worker
    // raises max_ts to the TSO on its own every round, so it is off here.
    resolvedTsIntervalMs: 0,
    ...(opts.prewriteBudgetMs !== undefined
      ? { connect: { txnBackoffBudgetsMs: { prewrite: opts.prewriteBudgetMs } } }
      : {}),
  });
  return { env, clock };
}
