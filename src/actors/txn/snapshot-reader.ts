// Reads at one timestamp (client-go txnkv/txnsnapshot: snapshot.go Get / BatchGet, scan.go
// Scanner): KvGet, KvBatchGet and KvScan through the region sender; locks met are handed to the
// lock resolver (resolve-for-read: locks it may ignore or read through are carried in the
// Context of later reads, as client-go's ClientHelper does), live ones are waited for with the
// TxnLockFast backoff. Every read is checked against the txn safe point.

import { extractKeyError } from "../../errors/extract.js";
import { BodyMissingError } from "../../errors/server.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../errors/txn.js";
import { nextKey } from "../../kv/key.js";
import { MAX_TS } from "../../kv/timestamp.js";
import { CommandPri, type Context, IsolationLevel, type KeyError, type KvPair } from "../../proto/kvrpcpb.js";
import { Bo } from "../backoff/backoff-config.js";
import type { ReplicaReadType } from "../region-cache/replica-selector.js";
import type { RpcInterceptor, RpcRequest } from "../request/interceptor.js";
import { splitByCount } from "../runtime/batch-split.js";
import { pairsInRequestOrder } from "../runtime/place-pairs.js";
import type { ContextFields, RawRequestSender, ReadRouting, RequestControl } from "../runtime/raw-sender.js";
import { positions, runRegionBatches } from "../runtime/region-batches.js";
import type { LockResolver } from "./lock-resolver.js";

/** client-go batchGetSize: keys per KvBatchGet request. */
export const BATCH_GET_SIZE = 5120;
/** client-go DefaultScanBatchSize. */
export const DEFAULT_SCAN_BATCH_SIZE = 256;

/** Isolation of snapshot reads (client-go IsoLevel). */
export type IsolationLevelName = "SI" | "RC" | "RCCheckTS";
/** Request priority (client-go Priority). */
export type PriorityName = "normal" | "low" | "high";

/** Which replicas serve a snapshot's reads (client-go kv.ReplicaReadType). */
export type ReplicaReadName = ReplicaReadType;

/** A stale read "as of `secondsAgo` seconds ago" (its ts comes from the oracle's getStaleTimestamp). */
export interface StaleReadAgo {
  /** How far back to read, in whole seconds (>= 0). */
  secondsAgo: number;
}

/** What a {@link SnapshotReadOptions.replicaReadAdjuster} decides for one read request. */
export interface ReplicaReadAdjustment {
  replicaRead: ReplicaReadName;
  /** Stores to prefer for this request (replaces the snapshot's `matchStoreLabels`). */
  matchStoreLabels?: Readonly<Record<string, string>>;
  /** Store ids to prefer for this request (replaces the snapshot's `matchStores`). */
  matchStores?: readonly bigint[];
}

/** Gives a request's resource group tag from the request (see {@link SnapshotReadOptions.resourceGroupTagger}). */
export type ResourceGroupTagger = (req: RpcRequest) => Buffer | Uint8Array | undefined;

/** Chooses the replica read of one request from the number of keys it reads. */
export type ReplicaReadAdjuster = (keys: number) => ReplicaReadAdjustment;

/** Read options of a snapshot (client-go KVSnapshot setters that apply to TiKV). */
export interface SnapshotReadOptions {
  /**
   * Which replicas serve reads (client-go SetReplicaRead): "leader" (default), "follower"
   * (non-leader voters, read-index), "learner" (learners only), "mixed" (any peer),
   * "preferLeader" (the leader while it is healthy, else a follower).
   */
  replicaRead?: ReplicaReadName;
  /**
   * Prefer replicas on stores carrying all of these labels, e.g. `{ zone: "z1" }` (client-go
   * SetMatchStoreLabels; with replica and stale reads: the closest replica).
   */
  matchStoreLabels?: Readonly<Record<string, string>>;
  /** Prefer replicas on these store ids (client-go WithMatchStores; replica and stale reads). */
  matchStores?: readonly bigint[];
  /**
   * Adjusts each read request of a replica read by the number of keys it carries (client-go
   * SetReplicaReadAdjuster): returns the replica read kind for that request and, optionally,
   * stores to prefer instead of `matchStoreLabels` / `matchStores`. Called per Get (1 key) and
   * per BatchGet batch when `replicaRead` is not "leader"; not for stale reads or scans.
   *
   * @example
   * ```ts
   * // small reads from a replica in our zone, big batches from the leader
   * const snap = await txnClient.snapshot(undefined, {
   *   replicaRead: "mixed",
   *   replicaReadAdjuster: (keys) =>
   *     keys <= 16 ? { replicaRead: "mixed", matchStoreLabels: { zone: "z1" } } : { replicaRead: "leader" },
   * });
   * ```
   */
  replicaReadAdjuster?: ReplicaReadAdjuster;
  /**
   * Stale read (client-go SetIsStalenessReadOnly): reads may be served by any replica whose safe
   * ts has reached the read ts, without a read-index round trip; a replica that lags answers
   * DataIsNotReady and the read is retried on the leader. `true` reads at the ts given;
   * `{ secondsAgo }` picks the ts as of that many seconds ago. Read-only: a stale-read
   * transaction cannot write or lock.
   */
  staleRead?: boolean | StaleReadAgo;
  /** SI (default), RC (ignore locks), or RCCheckTS (RC that fails on a newer write). */
  isolationLevel?: IsolationLevelName;
  /** Request priority (default normal). */
  priority?: PriorityName;
  /** Do not fill TiKV's block cache with what is read. */
  notFillCache?: boolean;
  /** Scans return keys without values. */
  keyOnly?: boolean;
  /** Pairs fetched per scan request (default 256; values <= 1 mean the default, as client-go). */
  scanBatchSize?: number;
  /** Task id carried in the context (TiDB's statement id; shows in TiKV's slow log). */
  taskId?: bigint;
  /** Resource group tag (TopSQL) carried in the context. */
  resourceGroupTag?: Buffer;
  /**
   * Tags each request that has no `resourceGroupTag` (client-go SetResourceGroupTagger): called per
   * request attempt with what an interceptor sees; its answer (or undefined: no tag) is sent as
   * the request's resource_group_tag. On a transaction it tags its reads, locks and commit.
   *
   * @example
   * ```ts
   * const txn = await txnClient.begin({ resourceGroupTagger: (req) => Buffer.from(`app:${req.command}`) });
   * ```
   */
  resourceGroupTagger?: ResourceGroupTagger;
  /** Resource group name for resource control. */
  resourceGroupName?: string;
  /** Request source label (client-go RequestSource, e.g. "external_txn"). */
  requestSource?: string;
  /** TiKV-side read timeout in ms for the first attempt (client-go KV read timeout). */
  kvReadTimeoutMs?: number;
  /**
   * RPC interceptors of this snapshot's (or transaction's) requests, run inside the client's
   * (client-go KVSnapshot/KVTxn SetRPCInterceptor). A transaction's also wrap its commit RPCs.
   */
  interceptor?: RpcInterceptor;
}

const ISOLATION: Record<IsolationLevelName, IsolationLevel> = {
  SI: IsolationLevel.SI,
  RC: IsolationLevel.RC,
  RCCheckTS: IsolationLevel.RCCheckTS,
};
const PRIORITY: Record<PriorityName, CommandPri> = {
  normal: CommandPri.Normal,
  low: CommandPri.Low,
  high: CommandPri.High,
};

/** What a reader needs from the client. */
export interface SnapshotDeps {
  sender: RawRequestSender;
  resolver: LockResolver;
  /** Rejects reads below the txn safe point (client-go CheckVisibility). */
  checkVisibility: (ts: bigint) => Promise<void>;
}

/** A pair read from TiKV (values empty with keyOnly). */
export interface KvEntry {
  key: Buffer;
  value: Buffer;
}

/** Reads at `ts` with fixed options; keeps the locks it learned to ignore or read through. */
export class SnapshotReader {
  /** Transactions whose locks reads skip (Context.resolved_locks). */
  readonly resolvedLocks = new Set<bigint>();
  /** Transactions committed before `ts` whose locks reads read through (Context.committed_locks). */
  readonly committedLocks = new Set<bigint>();
  private readonly baseContext: Partial<Context>;
  // no option sets a Context field
  private readonly plainContext: boolean;
  // where reads go (undefined: the leader, the fast path)
  private readonly routing: ReadRouting | undefined;
  // the KV read timeout bounds the first attempt only (client-go: retries get the default)
  private readonly firstAttempt: Partial<Context> | undefined;

  constructor(
    private readonly deps: SnapshotDeps,
    /** The read timestamp. */
    readonly ts: bigint,
    readonly options: SnapshotReadOptions = {},
  ) {
    const ctx: Partial<Context> = {};
    if (options.isolationLevel) ctx.isolationLevel = ISOLATION[options.isolationLevel];
    if (options.priority) ctx.priority = PRIORITY[options.priority];
    if (options.notFillCache) ctx.notFillCache = true;
    if (options.taskId !== undefined) ctx.taskId = options.taskId;
    if (options.resourceGroupTag) ctx.resourceGroupTag = options.resourceGroupTag;
    if (options.resourceGroupName) {
      ctx.resourceControlContext = {
        resourceGroupName: options.resourceGroupName,
        penalty: undefined,
        overridePriority: 0n,
      };
    }
    if (options.requestSource) ctx.requestSource = options.requestSource;
    this.baseContext = ctx;
    this.plainContext = Object.keys(ctx).length === 0;
    this.routing = readRouting(options);
    this.firstAttempt =
      options.kvReadTimeoutMs !== undefined && options.kvReadTimeoutMs > 0
        ? { maxExecutionDurationMs: BigInt(options.kvReadTimeoutMs) }
        : undefined;
  }

  /**
   * The Context fields a transaction's writes carry too (client-go: priority, resource group and
   * tag, request source apply to prewrite / commit as well as to reads).
   */
  writeContext(): Partial<Context> | undefined {
    const {
      isolationLevel: _i,
      notFillCache: _n,
      taskId: _t,
      maxExecutionDurationMs: _m,
      ...rest
    } = this.baseContext;
    return Object.keys(rest).length > 0 ? rest : undefined;
  }

  /** Scan batch size in effect. */
  get scanBatchSize(): number {
    const b = this.options.scanBatchSize;
    return b === undefined || b <= 1 ? DEFAULT_SCAN_BATCH_SIZE : b;
  }

  /** The value of `key` at `ts`, or undefined. */
  async get(key: Buffer, ctl: RequestControl): Promise<Buffer | undefined> {
    ctl.routing = this.routing;
    for (;;) {
      let region = this.deps.sender.locate(key, ctl);
      if (region instanceof Promise) region = await region;
      const { resp } = await this.deps.sender.sendOnce(
        region,
        "Get",
        { context: undefined, key, version: this.ts, needCommitTs: false },
        ctl,
        this.context(),
      );
      if (!resp) continue;
      if (resp.error) {
        // a point get resolves only the key it met, even for a large or pipelined owner
        // (client-go get: resolveLite)
        await this.onKeyError(resp.error, ctl, true);
        this.leaderAfterLock(ctl);
        continue;
      }
      await this.deps.checkVisibility(this.ts);
      // TiKV's empty value means "no value" to a transactional reader (client-go ErrNotExist)
      return resp.notFound || resp.value.length === 0 ? undefined : resp.value;
    }
  }

  /**
   * The values of `keys` (positional, undefined where absent): per-region batches of 5120 keys
   * in parallel; only the keys met locked are resent after their locks were resolved.
   */
  async batchGet(keys: readonly Buffer[], ctl: RequestControl): Promise<Array<Buffer | undefined>> {
    const out = new Array<Buffer | undefined>(keys.length).fill(undefined);
    ctl.routing = this.routing;
    let pending = positions(keys.length);
    while (pending.length > 0) {
      const locked: number[] = [];
      const locks: LockDetails[] = [];
      await runRegionBatches(
        this.deps.sender,
        ctl,
        keys,
        pending,
        (p) => splitByCount(p, BATCH_GET_SIZE),
        async (region, batch) => {
          const { resp } = await this.deps.sender.sendOnce(
            region,
            "BatchGet",
            {
              context: undefined,
              keys: batch.map((i) => keys[i] as Buffer),
              version: this.ts,
              needCommitTs: false,
            },
            ctl,
            this.context(),
          );
          if (!resp) return false;
          if (resp.error) {
            // a whole-response error: resolve if it is a lock, then resend the batch
            const l = resp.error.locked;
            if (!l) throw extractKeyError(resp.error);
            locks.push(lockDetailsFromLockInfo(l));
            locked.push(...batch);
            return true;
          }
          // every key found, in the order asked: no maps needed (an empty value means absent)
          if (pairsInRequestOrder(resp.pairs, batch, keys)) {
            for (let k = 0; k < batch.length; k++) {
              const v = (resp.pairs[k] as KvPair).value;
              out[batch[k] as number] = v.length === 0 ? undefined : v;
            }
            return true;
          }
          // TiKV leaves the key of a locked pair empty: the lock names the key
          const byKey = new Map<string, KvPair>();
          const lockedKeys = new Map<string, LockDetails>();
          for (const p of resp.pairs) {
            if (p.error) {
              const l = p.error.locked;
              if (!l) throw extractKeyError(p.error);
              const lock = lockDetailsFromLockInfo(l);
              lockedKeys.set(lock.key.toString("latin1"), lock);
            } else byKey.set(p.key.toString("latin1"), p);
          }
          for (const i of batch) {
            const k = (keys[i] as Buffer).toString("latin1");
            const lock = lockedKeys.get(k);
            if (lock) {
              locks.push(lock);
              locked.push(i);
              continue;
            }
            const p = byKey.get(k);
            if (!p) continue;
            out[i] = p.value.length === 0 ? undefined : p.value;
          }
          return true;
        },
      );
      if (locks.length > 0) {
        await this.resolveForRead(locks, ctl);
        this.leaderAfterLock(ctl);
      }
      pending = locked;
    }
    await this.deps.checkVisibility(this.ts);
    return out;
  }

  /**
   * Reads `[lower, upper)` in key order (or descending with `reverse`), up to `limit` pairs
   * (0 = no limit), a batch of {@link scanBatchSize} (or `batchSizeOverride`) per request,
   * region by region. `ctl` gives each request its control block.
   */
  async *scan(
    lower: Buffer,
    upper: Buffer,
    limit: number,
    reverse: boolean,
    ctl: () => RequestControl,
    batchSizeOverride?: number,
  ): AsyncGenerator<KvEntry, void, undefined> {
    const batchSize = batchSizeOverride ?? this.scanBatchSize;
    const keyOnly = !!this.options.keyOnly;
    let yielded = 0;
    // forward: `cursor` is the next start key; reverse: the exclusive upper bound
    let cursor = reverse ? upper : lower;
    let routing = this.routing;
    for (;;) {
      const c = ctl();
      c.routing = routing;
      const want = limit > 0 ? Math.min(batchSize, limit - yielded) : batchSize;
      let region = reverse
        ? await this.deps.sender.locate(cursor, c, cursor.length > 0)
        : this.deps.sender.locate(cursor, c);
      if (region instanceof Promise) region = await region;
      // clip the request to the region (client-go: the end key never passes the region)
      const regionEdge = reverse ? region.startKey : region.endKey;
      const req = reverse
        ? {
            startKey: cursor,
            endKey: lower.length > 0 && Buffer.compare(lower, region.startKey) > 0 ? lower : region.startKey,
          }
        : {
            startKey: cursor,
            endKey:
              region.endKey.length > 0 && (upper.length === 0 || Buffer.compare(region.endKey, upper) < 0)
                ? region.endKey
                : upper,
          };
      const { resp } = await this.deps.sender.sendOnce(
        region,
        "Scan",
        {
          context: undefined,
          startKey: req.startKey,
          endKey: req.endKey,
          limit: want,
          version: this.ts,
          keyOnly,
          reverse,
          sampleStep: 0,
        },
        c,
        this.context(),
      );
      if (!resp) continue;
      if (resp.error) {
        await this.onKeyError(resp.error, c, false);
        this.leaderAfterLock(c);
        routing = c.routing;
        continue;
      }
      if (!resp.pairs) throw new BodyMissingError();
      await this.deps.checkVisibility(this.ts);
      for (const p of resp.pairs) {
        let value = p.value;
        let key = p.key;
        if (p.error) {
          // a locked key in the batch (TiKV leaves the pair's key empty; the lock names it):
          // resolve through a point get of that key
          const l = p.error.locked;
          if (!l) throw extractKeyError(p.error);
          key = l.key;
          const v = await this.get(key, c);
          if (v === undefined) continue;
          value = keyOnly ? Buffer.alloc(0) : v;
        }
        yield { key, value };
        yielded++;
        if (limit > 0 && yielded >= limit) return;
      }
      if (resp.pairs.length < want) {
        // this region is done: move to the next one, unless the range ends here
        if (regionEdge.length === 0) return;
        if (reverse) {
          if (lower.length > 0 && Buffer.compare(regionEdge, lower) <= 0) return;
        } else if (upper.length > 0 && Buffer.compare(regionEdge, upper) >= 0) return;
        cursor = regionEdge;
      } else {
        // a locked pair carries no key of its own: its lock names it
        const lastPair = resp.pairs[resp.pairs.length - 1] as KvPair;
        const last = lastPair.error?.locked ? lastPair.error.locked.key : lastPair.key;
        cursor = reverse ? last : nextKey(last);
      }
    }
  }

  // the per-request context: the snapshot's options and the locks learned so far
  private context(): ContextFields | undefined {
    const noLocks = this.resolvedLocks.size === 0 && this.committedLocks.size === 0;
    // nothing to add: the request keeps the routing layer's shared, frozen context (no merge,
    // and the hand-written batch encoders apply)
    if (noLocks && this.firstAttempt === undefined && this.plainContext) return undefined;
    const base = noLocks
      ? this.baseContext
      : {
          ...this.baseContext,
          resolvedLocks: [...this.resolvedLocks],
          committedLocks: [...this.committedLocks],
        };
    const first = this.firstAttempt;
    if (first === undefined) return base;
    const withTimeout = { ...base, ...first };
    return (attempt) => (attempt === 0 ? withTimeout : base);
  }

  // client-go DisableStaleReadMeetLock: once a stale read met a lock, the rest of the call reads
  // from the leader as a normal read (the lock resolved, a follower may still lag behind it)
  private leaderAfterLock(ctl: RequestControl): void {
    if (ctl.routing?.staleRead) ctl.routing = undefined;
  }

  private async onKeyError(ke: KeyError, ctl: RequestControl, lite: boolean): Promise<void> {
    const l = ke.locked;
    if (!l) throw extractKeyError(ke);
    await this.resolveForRead([lockDetailsFromLockInfo(l)], ctl, lite);
  }

  private async resolveForRead(locks: LockDetails[], ctl: RequestControl, lite = false): Promise<void> {
    const r = await this.deps.resolver.resolveLocks(locks, {
      callerStartTs: this.ts,
      forRead: true,
      ctl,
      ...(lite ? { lite } : {}),
    });
    for (const t of r.ignoreLocks) this.resolvedLocks.add(t);
    for (const t of r.accessLocks) this.committedLocks.add(t);
    if (r.msBeforeTxnExpired > 0) {
      const ms = ctl.bo.next(
        Bo.TxnLockFast,
        new Error(`locked by txn ${locks[0]?.startTs}`),
        r.msBeforeTxnExpired,
      );
      await ctl.bo.sleep(ms);
    }
  }
}

// the routing of a snapshot's reads; undefined for leader reads, which keep the fast path
function readRouting(o: SnapshotReadOptions): ReadRouting | undefined {
  const staleRead = !!o.staleRead;
  const replicaRead = o.replicaRead ?? "leader";
  const labels = o.matchStoreLabels
    ? Object.entries(o.matchStoreLabels).map(([key, value]) => ({ key, value }))
    : undefined;
  const storeIds = o.matchStores && o.matchStores.length > 0 ? [...o.matchStores] : undefined;
  if (!staleRead && replicaRead === "leader") return undefined;
  const adjuster = staleRead ? undefined : o.replicaReadAdjuster;
  return Object.freeze({
    replicaRead,
    staleRead,
    labels: labels && labels.length > 0 ? labels : undefined,
    storeIds,
    adjust:
      adjuster &&
      ((keys: number) => readRouting({ ...o, ...adjuster(keys), replicaReadAdjuster: undefined })),
  });
}

/** The "latest" read ts (client-go MaxUint64 snapshot). */
export const LATEST_TS = MAX_TS;
