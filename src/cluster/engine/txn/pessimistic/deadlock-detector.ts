// Wait-for graph of the deadlock detector.
// Semantics follow tikv src/server/lock_manager/deadlock.rs (`DetectTable`), plus the
// `expire(minTs)` of client-go internal/mockstore/deadlock/deadlock.go.
import { WaitForEntry } from "../../../../proto/deadlock.js";

/** TiKV's default edge TTL: the detector table is built with `wait-for-lock-timeout` (1s). */
export const DEFAULT_DETECT_TTL_MS = 1000;

/** A deadlock found while adding an edge. */
export interface DetectedDeadlock {
  /** Hash of the key on which the last waiter of the cycle (the one waiting for the
   * detecting txn) waits. */
  deadlockKeyHash: bigint;
  /** The cycle, starting with the holder of the lock the detecting txn wants and ending
   * with the edge that closes it; the detecting edge itself is NOT included (TiKV's
   * detector appends it when it reports the deadlock, see `LockManager`). */
  waitChain: WaitForEntry[];
}

/** One edge txn -> lockTs: the keys (hash, key) the txn waits for under that lock. */
interface Edge {
  lockTs: bigint;
  keys: { hash: bigint; key: Buffer }[];
  resourceGroupTag: Buffer;
  lastDetectTime: number;
}

/** Options of {@link DeadlockDetector}. */
export interface DeadlockDetectorOptions {
  /** Edge survival time in ms since its last detect (TiKV: wait-for-lock-timeout). */
  ttlMs?: number;
  /** Clock in ms (defaults to Date.now, looked up at call time so fake timers apply). */
  now?: () => number;
}

/**
 * Wait-for graph keyed by transaction start_ts. Every edge expires `ttlMs` after the
 * last detect that touched it; expired edges are dropped lazily while searching.
 */
export class DeadlockDetector {
  private readonly waitFor = new Map<bigint, Map<bigint, Edge>>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: DeadlockDetectorOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_DETECT_TTL_MS;
    this.now = opts.now ?? (() => Date.now());
  }

  /**
   * Registers that `txnTs` waits for the lock of `lockTs` on key (`hash`, `key`) unless
   * that closes a cycle, in which case nothing is registered and the cycle is returned.
   */
  detect(
    txnTs: bigint,
    lockTs: bigint,
    hash: bigint,
    key: Buffer = Buffer.alloc(0),
    resourceGroupTag: Buffer = Buffer.alloc(0),
  ): DetectedDeadlock | undefined {
    const now = this.now();
    // An existing edge cannot create a new cycle: refresh it and return.
    const existing = this.waitFor.get(txnTs)?.get(lockTs);
    if (existing) {
      if (!existing.keys.some((k) => k.hash === hash)) existing.keys.push({ hash, key });
      existing.resourceGroupTag = resourceGroupTag;
      existing.lastDetectTime = now;
      return undefined;
    }
    const found = this.search(txnTs, lockTs, now);
    if (found) return found;
    let edges = this.waitFor.get(txnTs);
    if (!edges) {
      edges = new Map();
      this.waitFor.set(txnTs, edges);
    }
    edges.set(lockTs, { lockTs, keys: [{ hash, key }], resourceGroupTag, lastDetectTime: now });
    return undefined;
  }

  /** Depth-first search for a path from `start` back to `target`. */
  private search(target: bigint, start: bigint, now: number): DetectedDeadlock | undefined {
    const stack = [start];
    // vertex -> predecessor on the search path (start has none).
    const pred = new Map<bigint, bigint | undefined>([[start, undefined]]);
    while (stack.length > 0) {
      const cur = stack.pop() as bigint;
      const edges = this.waitFor.get(cur);
      if (!edges) continue;
      for (const [ts, edge] of edges) {
        if (now - edge.lastDetectTime >= this.ttlMs) edges.delete(ts);
      }
      if (edges.size === 0) {
        this.waitFor.delete(cur);
        continue;
      }
      for (const edge of edges.values()) {
        if (edge.lockTs === target) {
          const chain = this.chainTo(cur, pred);
          chain.push(toEntry(cur, edge));
          return { deadlockKeyHash: edge.keys[0].hash, waitChain: chain };
        }
        if (!pred.has(edge.lockTs)) {
          pred.set(edge.lockTs, cur);
          stack.push(edge.lockTs);
        }
      }
    }
    return undefined;
  }

  /** The edges along the search path from the start vertex to `end`. */
  private chainTo(end: bigint, pred: Map<bigint, bigint | undefined>): WaitForEntry[] {
    const chain: WaitForEntry[] = [];
    let lockTs = end;
    for (let waiter = pred.get(lockTs); waiter !== undefined; waiter = pred.get(lockTs)) {
      const edge = this.waitFor.get(waiter)?.get(lockTs) as Edge;
      chain.push(toEntry(waiter, edge));
      lockTs = waiter;
    }
    return chain.reverse();
  }

  /** Removes key `hash` from the edge `txnTs -> lockTs` (the edge goes with its last key). */
  cleanUpWaitFor(txnTs: bigint, lockTs: bigint, hash: bigint): void {
    const edges = this.waitFor.get(txnTs);
    const edge = edges?.get(lockTs);
    if (!edges || !edge) return;
    const i = edge.keys.findIndex((k) => k.hash === hash);
    if (i >= 0) edge.keys.splice(i, 1);
    if (edge.keys.length === 0) {
      edges.delete(lockTs);
      if (edges.size === 0) this.waitFor.delete(txnTs);
    }
  }

  /** Removes every edge leaving `txnTs`. */
  cleanUp(txnTs: bigint): void {
    this.waitFor.delete(txnTs);
  }

  /** Removes the edges of every waiter whose start_ts is below `minTs` (client-go mock). */
  expire(minTs: bigint): void {
    for (const ts of [...this.waitFor.keys()]) if (ts < minTs) this.waitFor.delete(ts);
  }

  /** Drops the whole graph. */
  clear(): void {
    this.waitFor.clear();
  }

  /** Number of waiting transactions in the graph (for tests and diagnostics). */
  get size(): number {
    return this.waitFor.size;
  }

  /** The edges leaving `txnTs`: lock ts -> key hashes, in insertion order. */
  edgesOf(txnTs: bigint): Map<bigint, bigint[]> {
    const out = new Map<bigint, bigint[]>();
    for (const [ts, e] of this.waitFor.get(txnTs) ?? [])
      out.set(
        ts,
        e.keys.map((k) => k.hash),
      );
    return out;
  }

  /** Every edge as TiKV dumps the wait-for table (first key of each edge). */
  dump(): WaitForEntry[] {
    const out: WaitForEntry[] = [];
    for (const [txn, edges] of this.waitFor) for (const e of edges.values()) out.push(toEntry(txn, e));
    return out;
  }
}

function toEntry(waiter: bigint, edge: Edge): WaitForEntry {
  return WaitForEntry.fromPartial({
    txn: waiter,
    waitForTxn: edge.lockTs,
    keyHash: edge.keys[0].hash,
    key: edge.keys[0].key,
    resourceGroupTag: edge.resourceGroupTag,
  });
}
