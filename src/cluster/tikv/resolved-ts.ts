// TiKV's resolved-ts worker for the embedded cluster (tikv components/resolved_ts: advance.rs
// fetches a TSO, raises the concurrency manager's max_ts to it, and each region's resolver
// takes min(tso, oldest lock) as its resolved ts, which is the safe ts stale reads check).
// Only Put/Delete locks are tracked (cmd.rs decode_lock): pessimistic locks, Lock-type locks
// and shared locks never hold resolved ts back. Pipelined (large) transactions are tracked by
// the min_commit_ts known from the txn status cache, or their start ts, and not at all once
// the cache says they committed or rolled back (resolver.rs lookup_min_commit_ts).
//
// Differences from TiKV: every peer
// shares the leader's value (TiKV followers learn it through CheckLeader and may lag); a
// region whose leader is missing or on a stopped store does not advance.
import type { Lock, LockRecord } from "../engine/mvcc/types.js";
import type { CachedTxnState } from "../engine/txn/txn-status-cache.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";

/** What the worker reads and updates. */
export interface ResolvedTsSources {
  topology: ClusterTopology;
  /** Every lock CF record, with its key (wire bytes as a latin1 string). */
  locks(): Iterable<[string, LockRecord]>;
  /** The txn status cache's view of a transaction (for pipelined locks). */
  txnStatus(startTs: bigint): CachedTxnState | undefined;
  /** A timestamp every later TSO allocation exceeds (TiKV asks PD for a fresh one). */
  tso(): bigint;
  /** Raises max_ts, so later async-commit / 1PC commits land above the new resolved ts. */
  updateMaxTs(ts: bigint): void;
}

/**
 * The timestamp below which `lock` keeps its region's resolved ts (undefined: it does not
 * hold it back).
 */
export function lockHoldsAt(lock: Lock, txnStatus: ResolvedTsSources["txnStatus"]): bigint | undefined {
  if (lock.lockType !== "Put" && lock.lockType !== "Delete") return undefined;
  if (lock.generation === 0n) return lock.startTs;
  const s = txnStatus(lock.startTs);
  if (s === undefined) return lock.startTs;
  return s.kind === "ongoing" ? s.minCommitTs : undefined;
}

/** Advances every region's safe ts every `intervalMs`; `advance()` runs one round by hand. */
export class ResolvedTsWorker {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly src: ResolvedTsSources,
    private readonly intervalMs: number,
  ) {}

  /** Starts the timer (no-op when the interval is 0). It never keeps the process alive. */
  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.advance(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: every region's safe ts becomes min(tso, oldest blocking lock's ts), never lower (resolver.rs). */
  advance(): void {
    const { topology } = this.src;
    const ts = this.src.tso();
    this.src.updateMaxTs(ts);
    const oldest = new Map<bigint, bigint>();
    for (const [key, record] of this.src.locks()) {
      // Shared locks are skipped as a whole (cmd.rs decode_lock).
      if (record.lockType === "Shared") continue;
      const at = lockHoldsAt(record, this.src.txnStatus);
      if (at === undefined) continue;
      const region = topology.locateKey(Buffer.from(key, "latin1"));
      if (!region) continue;
      const cur = oldest.get(region.id);
      if (cur === undefined || at < cur) oldest.set(region.id, at);
    }
    for (const r of topology.regions()) {
      const leaderStore = r.leader?.storeId;
      if (leaderStore === undefined || !topology.isStoreRunning(leaderStore)) continue;
      const held = oldest.get(r.id);
      const target = held !== undefined && held < ts ? held : ts;
      if (target > r.safeTs) topology.advanceSafeTs(r.id, target);
    }
  }
}
