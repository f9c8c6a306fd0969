// Replica selection for one request on one region: which peer to send to next, whether the
// request is a leader / replica / stale read, and how each failure changes the choice.
// A plain object created only when a request leaves the fast path (or needs a non-leader
// read). Semantics follow client-go internal/locate/replica_selector.go and the replica parts
// of region_request.go (flags, attempts, pending backoffs, scoring).

import type { Peer, StoreLabel } from "../../proto/metapb.js";
import { PeerRole } from "../../proto/metapb.js";
import { type BackoffConfig, Bo } from "../backoff/backoff-config.js";
import type { Backoffer } from "../backoff/backoffer.js";
import type { CachedRegion } from "./cached-region.js";
import { chooseProxy, rememberProxy } from "./proxy-strategy.js";
import type { RegionCache } from "./region-cache.js";

/** Which replicas may serve a read (client-go kv.ReplicaReadType). */
export type ReplicaReadType = "leader" | "follower" | "mixed" | "learner" | "preferLeader";

/** Per-request routing options. */
export interface ReplicaSelectorOptions {
  /** Replica read mode (default "leader"). */
  replicaRead?: ReplicaReadType;
  /** Stale read (implies mixed replica selection with leader fallback). */
  staleRead?: boolean;
  /** True for read commands (Get, BatchGet, Scan...): enables replica read and configurable read timeouts. */
  isRead?: boolean;
  /** Prefer stores with all of these labels. */
  labels?: readonly StoreLabel[];
  /** Prefer these store ids. */
  storeIds?: readonly bigint[];
  /** Never leave the leader. */
  leaderOnly?: boolean;
  /** TiKV busy threshold (ms): a busy leader makes reads go to idle followers. */
  busyThresholdMs?: number;
  /** Random source for tie-breaking among equal scores (default Math.random). */
  random?: () => number;
}

/** Maximum attempts per replica (client-go maxReplicaAttempt). */
export const MAX_REPLICA_ATTEMPTS = 10;

/** Why a replica should not be retried (client-go replica flags). */
export const ReplicaFlag = {
  deadlineExceeded: 1,
  dataIsNotReady: 2,
  notLeader: 4,
  serverIsBusy: 8,
  /** The cached leader keeps rejecting leader reads with ServerIsBusy: probe a follower (client-go#2028). */
  suspectNotLeader: 16,
} as const;

/** ServerIsBusy answers from the same cached leader that trigger a follower probe (client-go leaderBusyProbeThreshold). */
export const LEADER_BUSY_PROBE_THRESHOLD = 2;

/** One peer of the region as this request sees it. */
export interface Replica {
  readonly peer: Peer;
  readonly storeId: bigint;
  /** Store epoch when the region entry was built (stale once the store fails). */
  readonly epoch: number;
  attempts: number;
  flags: number;
}

/** Where to send the next attempt and how. */
export interface ReplicaTarget {
  replica: Replica;
  peer: Peer;
  storeId: bigint;
  address: string;
  /** Context.replica_read of the request. */
  replicaRead: boolean;
  /** Context.stale_read of the request. */
  staleRead: boolean;
  /** True when the target is the cached leader. */
  isLeader: boolean;
  /**
   * Set while forwarding (client-go EnableForwarding): the follower the request is sent to, whose
   * TiKV proxies it to the target (the leader) named by the tikv-forwarded-host metadata.
   */
  proxy: { replica: Replica; storeId: bigint; address: string } | undefined;
}

// score bits, most significant first: not slow, labels match, prefer leader, normal peer, not attempted
const NOT_ATTEMPTED = 1;
const NORMAL_PEER = 2;
const PREFER_LEADER = 4;
const LABEL_MATCHES = 8;
const NOT_SLOW = 16;

/** Replica selection state of one request on one region. */
export class ReplicaSelector {
  /** The region entry the replicas come from. */
  readonly region: CachedRegion;
  /** Replicas in the region's peer order. */
  readonly replicas: Replica[];
  /** Current read mode (switches to "leader" after some errors). */
  replicaReadType: ReplicaReadType;
  /** Number of targets handed out. */
  attempts = 0;
  /** The current target. */
  target: ReplicaTarget | undefined;
  private reqReplicaRead: boolean;
  private reqStaleRead: boolean;
  private readonly isStaleRead: boolean;
  private readonly isRead: boolean;
  private readonly preferLeader: boolean;
  private busyThresholdMs: number;
  private regionInvalidatedForRetry = false;
  private readonly pending = new Map<bigint, { cfg: BackoffConfig; err: unknown }>();
  private readonly random: () => number;
  private leaderBusyCount = 0;
  private leaderBusyPeerId: bigint | undefined;
  private leaderBusyProbed = false;
  // the follower chosen to forward this attempt to the leader (client-go replicaSelector.proxy)
  private proxyReplica: Replica | undefined;

  constructor(
    private readonly cache: RegionCache,
    region: CachedRegion,
    private readonly opts: ReplicaSelectorOptions = {},
  ) {
    this.region = region;
    this.replicas = region.peers.map((peer, i) => ({
      peer,
      storeId: peer.storeId,
      epoch: region.storeEpochs[i] ?? 0,
      attempts: 0,
      flags: 0,
    }));
    this.isStaleRead = opts.staleRead ?? false;
    // a stale read is a mixed read (unless a non-leader mode is asked for) whose first attempt carries stale_read
    const asked = opts.replicaRead ?? "leader";
    this.replicaReadType = this.isStaleRead && asked === "leader" ? "mixed" : asked;
    this.reqStaleRead = this.isStaleRead;
    this.reqReplicaRead = !this.isStaleRead && this.replicaReadType !== "leader";
    this.isRead = opts.isRead ?? false;
    this.preferLeader = this.replicaReadType === "preferLeader";
    this.busyThresholdMs = opts.busyThresholdMs ?? 0;
    this.random = opts.random ?? Math.random;
  }

  /** The next target, or undefined when no replica is left (the region may have been invalidated). */
  next(): ReplicaTarget | undefined {
    this.target = undefined;
    this.proxyReplica = undefined;
    if (this.regionInvalidatedForRetry) this.regionInvalidatedForRetry = false;
    else if (!this.region.isValid) return undefined;
    this.attempts++;
    const picked = this.replicaReadType === "leader" ? this.nextForLeader() : this.nextForMixed();
    if (!picked) return undefined;
    return this.buildTarget(picked);
  }

  private get leaderIdx(): number {
    return this.region.leaderIdx;
  }

  private nextForLeader(): Replica | undefined {
    const leader = this.replicas[this.leaderIdx];
    if (this.cache.enableForwarding && leader) {
      const c = chooseProxy(
        this.region,
        this.replicas,
        this.leaderIdx,
        has(leader, ReplicaFlag.notLeader),
        this.cache.stores,
        (i) => this.isEpochStale(this.replicas[i] as Replica),
      );
      if (c.kind === "proxy") {
        this.proxyReplica = this.replicas[c.proxyIdx];
        return leader;
      }
      if (c.kind === "exhausted") {
        // every follower failed as a proxy: the leader's store is treated as failed and the entry
        // is reloaded on next access (client-go invalidateReplicaStore + needReloadOnAccess)
        this.cache.stores.invalidateStore(leader.storeId, leader.epoch);
        this.invalidateRegion();
        return undefined;
      }
    }
    // a leader suspected of having lost leadership is skipped so a follower is probed
    let target =
      leader && this.isLeaderCandidate(leader) && !has(leader, ReplicaFlag.suspectNotLeader)
        ? leader
        : undefined;
    if (
      target &&
      this.busyThresholdMs > 0 &&
      this.isRead &&
      (this.cache.stores.estimatedWait(target.storeId) > this.busyThresholdMs ||
        has(target, ReplicaFlag.serverIsBusy))
    ) {
      // the leader looks busy: try an idle replica, else the leader without the threshold
      const idle = this.mixedNext({ busyThresholdMs: this.busyThresholdMs });
      if (idle) {
        this.reqReplicaRead = true;
        return idle;
      }
      this.busyThresholdMs = 0;
      this.reqReplicaRead = false;
    }
    if (target) return target;
    target = this.mixedNext({ leaderOnly: this.opts.leaderOnly });
    if (target && this.isRead && leader && has(leader, ReplicaFlag.deadlineExceeded)) {
      this.reqReplicaRead = true;
      this.reqStaleRead = false;
    }
    return target;
  }

  private nextForMixed(): Replica | undefined {
    if (this.isStaleRead && this.attempts === 2) {
      // second attempt of a stale read: the leader, with a plain leader read
      const leader = this.replicas[this.leaderIdx];
      if (leader && this.isLeaderCandidate(leader) && leader.attempts < 1) {
        this.reqStaleRead = false;
        this.reqReplicaRead = false;
        return leader;
      }
    }
    const t = this.replicaReadType;
    const target = this.mixedNext({
      tryLeader: t === "mixed" || t === "preferLeader",
      preferLeader: this.preferLeader,
      leaderOnly: this.opts.leaderOnly,
      learnerOnly: t === "learner",
      labels: this.opts.labels,
      storeIds: this.opts.storeIds,
    });
    if (!target) return undefined;
    const isLeader = target === this.replicas[this.leaderIdx];
    if (this.isStaleRead) {
      let stale = true;
      if (
        (this.attempts !== 1 ||
          (!this.cache.stores.labelsMatch(target.storeId, this.opts.labels) && !isLeader)) &&
        this.canSendReplicaRead()
      ) {
        stale = false;
      }
      this.reqStaleRead = stale;
      this.reqReplicaRead = !stale;
    } else {
      this.reqStaleRead = false;
      this.reqReplicaRead = this.isRead && !isLeader;
    }
    return target;
  }

  /** client-go isLeaderCandidate. */
  isLeaderCandidate(r: Replica): boolean {
    return (
      this.cache.stores.liveness(r.storeId) !== "unreachable" &&
      r.attempts < MAX_REPLICA_ATTEMPTS &&
      !has(r, ReplicaFlag.deadlineExceeded) &&
      !has(r, ReplicaFlag.notLeader) &&
      !this.isEpochStale(r)
    );
  }

  /** True when the replica's store failed since the region entry was built. */
  isEpochStale(r: Replica): boolean {
    const s = this.cache.stores.peek(r.storeId);
    return !!s && s.epoch !== r.epoch;
  }

  private canSendReplicaRead(): boolean {
    const leader = this.replicas[this.leaderIdx];
    return !(
      !leader ||
      leader.attempts === 0 ||
      has(leader, ReplicaFlag.deadlineExceeded) ||
      has(leader, ReplicaFlag.serverIsBusy)
    );
  }

  // client-go ReplicaSelectMixedStrategy.next: highest score wins, ties broken at random
  private mixedNext(s: MixedStrategy): Replica | undefined {
    const stores = this.cache.stores;
    let best: number[] = [];
    let bestScore = -1;
    let reload = false;
    this.replicas.forEach((r, i) => {
      const isLeader = i === this.leaderIdx;
      const stale = this.isEpochStale(r);
      const liveness = stores.liveness(r.storeId);
      if (stale && (liveness === "reachable" || isLeader)) reload = true;
      if (!this.isCandidate(s, r, isLeader, stale, liveness === "unreachable")) return;
      const score = this.score(s, r, isLeader);
      if (score > bestScore) {
        bestScore = score;
        best = [i];
      } else if (score === bestScore) best.push(i);
    });
    if (reload) this.cache.scheduleReload(this.region);
    if (best.length === 1) return this.replicas[best[0] as number];
    if (best.length > 1) return this.replicas[best[Math.floor(this.random() * best.length)] as number];
    if (s.busyThresholdMs) return undefined;
    // the probe found nobody else: restore the suspected leader instead of reloading the region
    const leader = this.replicas[this.leaderIdx];
    if (leader && has(leader, ReplicaFlag.suspectNotLeader)) {
      leader.flags &= ~ReplicaFlag.suspectNotLeader;
      if (this.isLeaderCandidate(leader)) return leader;
    }
    // every replica was tried: the cached region is probably wrong, unless timeouts explain it
    if (!this.replicas.some((r) => has(r, ReplicaFlag.deadlineExceeded))) this.invalidateRegion();
    return undefined;
  }

  private isCandidate(s: MixedStrategy, r: Replica, isLeader: boolean, stale: boolean, unreachable: boolean) {
    if (stale || unreachable) return false;
    // a follower that failed a stale read with DataIsNotReady may still serve a replica read
    const maxAttempts = has(r, ReplicaFlag.dataIsNotReady) && !isLeader ? 2 : 1;
    if (r.attempts >= maxAttempts) return false;
    if (s.leaderOnly && !isLeader) return false;
    const stores = this.cache.stores;
    if (
      s.busyThresholdMs &&
      (stores.estimatedWait(r.storeId) > s.busyThresholdMs || has(r, ReplicaFlag.serverIsBusy) || isLeader)
    ) {
      return false;
    }
    if (s.preferLeader && stores.isSlow(r.storeId) && !isLeader) return false;
    return true;
  }

  private score(s: MixedStrategy, r: Replica, isLeader: boolean): number {
    const stores = this.cache.stores;
    let score = 0;
    const storeMatch = !s.storeIds || s.storeIds.length === 0 || s.storeIds.includes(r.storeId);
    if (storeMatch && stores.labelsMatch(r.storeId, s.labels)) score |= LABEL_MATCHES;
    if (isLeader) {
      if (s.preferLeader) score |= stores.isSlow(r.storeId) ? NORMAL_PEER : PREFER_LEADER;
      else if (s.tryLeader) score |= s.labels && s.labels.length > 0 ? PREFER_LEADER : NORMAL_PEER;
    } else if (!s.learnerOnly || r.peer.role === PeerRole.Learner) {
      score |= NORMAL_PEER;
    }
    if (!stores.isSlow(r.storeId)) score |= NOT_SLOW;
    if (r.attempts === 0) score |= NOT_ATTEMPTED;
    return score;
  }

  private buildTarget(r: Replica): ReplicaTarget | undefined {
    if (this.isEpochStale(r)) {
      this.invalidateRegion();
      return undefined;
    }
    const store = this.cache.stores.peek(r.storeId);
    if (!store || store.address === "") {
      // the store is gone (tombstone): the entry must be reloaded without it
      this.region.invalidate("storeNotFound");
      return undefined;
    }
    r.attempts++;
    let proxy: ReplicaTarget["proxy"];
    const p = this.proxyReplica;
    if (p) {
      if (this.isEpochStale(p)) {
        this.invalidateRegion();
        return undefined;
      }
      const ps = this.cache.stores.peek(p.storeId);
      if (!ps || ps.address === "") return undefined;
      p.attempts++;
      proxy = { replica: p, storeId: p.storeId, address: ps.address };
    }
    this.target = {
      replica: r,
      peer: r.peer,
      storeId: r.storeId,
      address: store.address,
      replicaRead: this.reqReplicaRead,
      staleRead: this.reqStaleRead,
      isLeader: r === this.replicas[this.leaderIdx],
      proxy,
    };
    return this.target;
  }

  /** Invalidates the region entry (client-go invalidateRegion: reason Other). */
  invalidateRegion(): void {
    this.region.invalidate("other");
  }

  // ---- reactions to outcomes (client-go replicaSelector.on*) ----

  /**
   * NotLeader: flags the target; with a hint, switches the cached leader (invalidating the region
   * when the peer is unknown) and returns "retry"; without one returns "backoff" (the caller backs
   * off with RegionScheduling and retries).
   */
  onNotLeader(leader: Peer | undefined): "retry" | "backoff" {
    if (this.target) this.target.replica.flags |= ReplicaFlag.notLeader;
    if (!leader) return "backoff";
    const idx = this.updateLeader(leader);
    if (idx >= 0 && this.isLeaderCandidate(this.replicas[idx] as Replica)) this.replicaReadType = "leader";
    return "retry";
  }

  private updateLeader(leader: Peer): number {
    const i = this.replicas.findIndex((r) => r.peer.id === leader.id && r.peer.storeId === leader.storeId);
    if (i < 0) {
      this.region.invalidate("storeNotFound");
      return -1;
    }
    const r = this.replicas[i] as Replica;
    // an unreachable leader may be hibernating: keep trying others until a new one is elected
    if (this.cache.stores.liveness(r.storeId) === "unreachable") return -1;
    if (r.attempts >= MAX_REPLICA_ATTEMPTS) r.attempts = MAX_REPLICA_ATTEMPTS - 1;
    r.flags &= ~(ReplicaFlag.notLeader | ReplicaFlag.suspectNotLeader);
    this.region.switchLeaderToPeer(leader);
    return i;
  }

  /**
   * ServerIsBusy: records load; returns "fastRetry" (another replica can be tried now, the
   * backoff is kept pending for this store) or "backoff" (back off with TiKVServerBusy first).
   */
  onServerIsBusy(estimatedWaitMs: number, err: unknown): "fastRetry" | "backoff" {
    const t = this.target;
    if (t) {
      if (estimatedWaitMs !== 0) {
        this.cache.stores.setEstimatedWait(t.storeId, estimatedWaitMs);
        if (this.busyThresholdMs !== 0 && this.isRead) t.replica.flags |= ReplicaFlag.serverIsBusy;
      } else {
        this.cache.stores.markSlow(t.storeId);
        this.countLeaderBusy(t);
      }
    }
    if (this.canFastRetry()) {
      this.pending.set(t?.storeId ?? 0n, { cfg: Bo.TiKVServerBusy, err });
      if (t) t.replica.flags |= ReplicaFlag.serverIsBusy;
      return "fastRetry";
    }
    return "backoff";
  }

  // client-go#2028: a wedged read pool rejects leader reads before raft, so no NotLeader ever
  // arrives; after a few rejections from the same cached leader, probe a follower once
  private countLeaderBusy(t: ReplicaTarget): void {
    const leaderPeer = this.region.leader;
    if (
      this.replicaReadType !== "leader" ||
      this.isStaleRead ||
      this.opts.leaderOnly ||
      t.peer.id !== leaderPeer.id ||
      this.leaderBusyProbed
    ) {
      return;
    }
    if (this.leaderBusyPeerId !== leaderPeer.id) {
      this.leaderBusyPeerId = leaderPeer.id;
      this.leaderBusyCount = 0;
    }
    this.leaderBusyCount++;
    if (this.leaderBusyCount >= LEADER_BUSY_PROBE_THRESHOLD) {
      t.replica.flags |= ReplicaFlag.suspectNotLeader;
      this.leaderBusyProbed = true;
    }
  }

  private canFastRetry(): boolean {
    if (this.replicaReadType === "leader") {
      const leader = this.replicas[this.leaderIdx];
      if (leader && this.isLeaderCandidate(leader) && !has(leader, ReplicaFlag.serverIsBusy)) return false;
    }
    return true;
  }

  /** DataIsNotReady (stale read on a lagging follower): that follower may still serve a replica read. */
  onDataIsNotReady(): void {
    if (this.target) this.target.replica.flags |= ReplicaFlag.dataIsNotReady;
  }

  /**
   * RegionNotFound: if the leader was not tried yet, retries on the leader (the region entry is
   * invalidated for other requests) and returns true; else invalidates and returns false.
   */
  onRegionNotFound(): boolean {
    const leader = this.replicas[this.leaderIdx];
    this.cache.invalidate(this.region, "regionNotFound");
    if (leader && leader.attempts < 1) {
      this.replicaReadType = "leader";
      this.reqReplicaRead = false;
      this.regionInvalidatedForRetry = true;
      return true;
    }
    return false;
  }

  /** A read hit its own (short, configurable) timeout: do not retry that replica. */
  onReadTimeout(): void {
    if (this.target) this.target.replica.flags |= ReplicaFlag.deadlineExceeded;
  }

  /** FlashbackInProgress on a replica read: retry on the leader (returns true), else fail. */
  onFlashbackInProgress(): boolean {
    const t = this.target;
    if (t && t.replicaRead && !t.isLeader) {
      this.busyThresholdMs = 0;
      this.replicaReadType = "leader";
      this.reqReplicaRead = false;
      return true;
    }
    return false;
  }

  /** A send failed: the target's store is checked and, unless reachable, its replicas are marked stale. */
  onSendFailure(): void {
    const t = this.target;
    if (!t) return;
    // while forwarding, the store that failed the call is the proxy
    const failed = t.proxy ?? t;
    const liveness = this.cache.stores.onSendFailure(failed.storeId);
    if (
      this.cache.enableForwarding &&
      t.proxy === undefined &&
      t.isLeader &&
      this.replicaReadType === "leader" &&
      liveness === "unreachable" &&
      this.replicas.length > 1
    ) {
      // an unreachable leader keeps its cached replica: the next attempt forwards through a follower
      return;
    }
    if (liveness !== "reachable") this.cache.stores.invalidateStore(failed.storeId, failed.replica.epoch);
  }

  /** A successful leader read on a follower means that follower is the leader now. */
  onSendSuccess(): void {
    const t = this.target;
    if (t?.proxy) rememberProxy(this.region, this.replicas.indexOf(t.proxy.replica));
    if (t && !t.isLeader && !t.staleRead && !t.replicaRead) this.region.switchLeaderToPeer(t.peer);
  }

  /** The pending backoff for `storeId`, removed (applied before retrying on that store). */
  takePendingBackoff(storeId: bigint): { cfg: BackoffConfig; err: unknown } | undefined {
    const p = this.pending.get(storeId);
    if (p) this.pending.delete(storeId);
    return p;
  }

  /** The pending backoff with the largest base (applied when no replica is left). */
  largestPendingBackoff(): { cfg: BackoffConfig; err: unknown } | undefined {
    let best: { cfg: BackoffConfig; err: unknown } | undefined;
    for (const p of this.pending.values()) if (!best || best.cfg.baseMs < p.cfg.baseMs) best = p;
    return best;
  }

  /** "leader" / "follower" / "unknown": the role of the current target (client-go replicaType). */
  replicaType(): "leader" | "follower" | "unknown" {
    if (!this.target) return "unknown";
    return this.target.isLeader ? "leader" : "follower";
  }
}

interface MixedStrategy {
  tryLeader?: boolean;
  preferLeader?: boolean;
  leaderOnly?: boolean;
  learnerOnly?: boolean;
  labels?: readonly StoreLabel[];
  storeIds?: readonly bigint[];
  busyThresholdMs?: number;
}

function has(r: Replica, flag: number): boolean {
  return (r.flags & flag) !== 0;
}

// The actors' classes plugged into the machines' ports (src/machines/ports.ts): the retry and
// region machines then hand these types back, and each must satisfy its port's shape.
declare module "../../machines/ports.js" {
  interface MachinePorts {
    region: CachedRegion;
    regionCache: RegionCache;
    replicaSelector: ReplicaSelector;
    backoffBudget: Backoffer;
  }
}
