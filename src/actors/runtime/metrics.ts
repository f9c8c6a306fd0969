// Counters the client keeps about its routing work, for tests and operators. Plain integer
// increments: cheap enough to stay on (no strings built on the hot path except error kinds).
// An exporter (prom-client, opt-in) hangs off it as a sink; with none attached each hook is one
// undefined check and no clock read.

import type { ReadTraffic } from "../request/zone-traffic.js";
import type {
  CommitProtocol,
  LockResolverAction,
  MetricsSink,
  RegionCacheOp,
  StaleReadEvent,
  TxnCmd,
} from "./metrics-sink.js";
import type { Tracing } from "./tracing.js";

/** A snapshot of {@link ClientMetrics}. */
export interface ClientMetricsSnapshot {
  /** PD region lookups issued (getRegion / getPrevRegion / getRegionById / scanRegions). */
  pdRegionLookups: number;
  /** PD store lookups issued. */
  pdStoreLookups: number;
  /** Requests sent to TiKV stores, per store id. */
  sendsByStore: Record<string, number>;
  /** Region errors received, per errorpb field name ("notLeader", "epochNotMatch", ...). */
  regionErrors: Record<string, number>;
  /** Backoffs taken, per backoff kind ("regionMiss", "tikvRPC", ...). */
  backoffs: Record<string, number>;
  /** Sends that failed at the transport level (store unreachable, stream lost). */
  sendFailures: number;
  /** Requests retried after a region error or a send failure. */
  retries: number;
  /** Transactions committed, by the protocol their commit used (client-go txn commit counter). */
  txnCommits: { twoPC: number; asyncCommit: number; onePC: number };
  /** Stale reads, by {@link StaleReadEvent} (zeros while no stale read was made). */
  staleReads: Record<StaleReadEvent, number>;
  /**
   * Read traffic by zone, counted with the `zone` option (stale reads also with metrics export on) (client-go
   * stale_read_req_counter, stale_read_bytes, read_request_bytes). A stale read to a store of
   * unknown zone counts as local, as client-go's; leader/follower bytes skip unknown zones.
   */
  zoneTraffic: ZoneTrafficCounts;
}

/** Counters of {@link ClientMetricsSnapshot.zoneTraffic}. */
export interface ZoneTrafficCounts {
  staleReadRequests: { local: number; crossZone: number };
  staleReadBytes: { localIn: number; localOut: number; crossZoneIn: number; crossZoneOut: number };
  /** Request + response bytes of reads, by who served them and where. */
  readBytes: {
    leaderLocal: number;
    leaderCrossZone: number;
    followerLocal: number;
    followerCrossZone: number;
  };
}

const noZoneTraffic = (): ZoneTrafficCounts => ({
  staleReadRequests: { local: 0, crossZone: 0 },
  staleReadBytes: { localIn: 0, localOut: 0, crossZoneIn: 0, crossZoneOut: 0 },
  readBytes: { leaderLocal: 0, leaderCrossZone: 0, followerLocal: 0, followerCrossZone: 0 },
});

const noStaleReads = (): Record<StaleReadEvent, number> => ({
  attempt: 0,
  data_not_ready: 0,
  leader_fallback: 0,
  hit: 0,
  miss: 0,
});

/** Mutable counters shared by the client's runtime. */
export class ClientMetrics {
  pdRegionLookups = 0;
  pdStoreLookups = 0;
  sendFailures = 0;
  retries = 0;
  private commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
  private staleReads = noStaleReads();
  private zone = noZoneTraffic();
  private readonly sends = new Map<bigint, number>();
  private readonly regionErrors = new Map<string, number>();
  private readonly backoffs = new Map<string, number>();
  /** The exporter every event is mirrored to (undefined: metrics export off). */
  sink: MetricsSink | undefined = undefined;
  /** OpenTelemetry tracing: backoffs become span events, PD lookups spans (undefined: off). */
  tracer: Tracing | undefined = undefined;

  /** A start time for a later observe*() call: 0 (no clock read) while no sink is attached. */
  now(): number {
    return this.sink ? performance.now() : 0;
  }

  /** Observes one TiKV request of `cmd` to `storeId` started at `t0` (from {@link now}). */
  observeRequest(cmd: string, storeId: bigint, t0: number, ok: boolean): void {
    const sink = this.sink;
    if (!sink) return;
    sink.request(cmd, storeId, (performance.now() - t0) / 1000);
    if (!ok) sink.rpcError(cmd, storeId);
  }

  /** Observes one PD lookup of the region cache (a cache miss or a store lookup). */
  countRegionCacheOp(op: RegionCacheOp, ok: boolean): void {
    this.sink?.regionCacheOp(op, ok);
  }

  /** Observes one TSO wait started at `t0` (from {@link now}). */
  observeTso(t0: number): void {
    this.sink?.tsoWait((performance.now() - t0) / 1000);
  }

  /** Observes one transaction command started at `t0` (from {@link now}). */
  observeTxnCmd(cmd: TxnCmd, t0: number): void {
    this.sink?.txnCmd(cmd, (performance.now() - t0) / 1000);
  }

  /** Observes the size of one committed transaction's writes. */
  observeTxnWrite(keys: number, bytes: number): void {
    this.sink?.txnWrite(keys, bytes);
  }

  /** Observes one BatchCommands message to `target` (requests in it, requests queued that turn). */
  observeBatch(target: string, requests: number, queued: number): void {
    this.sink?.batch(target, requests, queued);
  }

  /** Counts one lock resolver action. */
  countLockResolver(action: LockResolverAction): void {
    this.sink?.lockResolver(action);
  }

  /** Counts one send to `storeId`. */
  countSend(storeId: bigint): void {
    this.sends.set(storeId, (this.sends.get(storeId) ?? 0) + 1);
  }

  /** Counts one region error of kind `kind` (from `storeId` when known). */
  countRegionError(kind: string, storeId?: bigint): void {
    this.regionErrors.set(kind, (this.regionErrors.get(kind) ?? 0) + 1);
    this.sink?.regionError(kind, storeId);
  }

  /** Counts one backoff of kind `kind` sleeping `sleepMs`. */
  countBackoff(kind: string, sleepMs = 0): void {
    this.backoffs.set(kind, (this.backoffs.get(kind) ?? 0) + 1);
    this.sink?.backoff(kind, sleepMs / 1000);
    // client-go opens a "tikv.backoff.<kind>" span per sleep; an event on the current span here
    this.tracer?.event("tikv.backoff", { "tikv.backoff.kind": kind, "tikv.backoff.sleep_ms": sleepMs });
  }

  /** Counts one committed transaction by its protocol. */
  countCommit(mode: CommitProtocol): void {
    if (mode === "2pc") this.commits.twoPC++;
    else this.commits[mode]++;
    this.sink?.txnCommit(mode);
  }

  /** Counts one stale-read event (the request sender reports them; normal reads never call it). */
  countStaleRead(event: StaleReadEvent): void {
    this.staleReads[event]++;
    this.sink?.staleRead(event);
  }

  /** Counts one measured read (the request sender reports them when zone traffic is measured). */
  countReadTraffic(t: ReadTraffic): void {
    const z = this.zone;
    const cross = t.location === "cross-zone";
    if (t.staleRead) {
      if (cross) {
        z.staleReadRequests.crossZone++;
        z.staleReadBytes.crossZoneOut += t.sentBytes;
        z.staleReadBytes.crossZoneIn += t.receivedBytes;
      } else {
        z.staleReadRequests.local++;
        z.staleReadBytes.localOut += t.sentBytes;
        z.staleReadBytes.localIn += t.receivedBytes;
      }
    }
    if (t.location !== "unknown") {
      const n = t.sentBytes + t.receivedBytes;
      if (t.replicaRead) {
        if (cross) z.readBytes.followerCrossZone += n;
        else z.readBytes.followerLocal += n;
      } else if (cross) z.readBytes.leaderCrossZone += n;
      else z.readBytes.leaderLocal += n;
    }
    this.sink?.readTraffic?.(t);
  }

  /** A copy of every counter. */
  snapshot(): ClientMetricsSnapshot {
    const rec = <K>(m: Map<K, number>) => Object.fromEntries([...m].map(([k, v]) => [String(k), v]));
    return {
      pdRegionLookups: this.pdRegionLookups,
      pdStoreLookups: this.pdStoreLookups,
      sendsByStore: rec(this.sends),
      regionErrors: rec(this.regionErrors),
      backoffs: rec(this.backoffs),
      sendFailures: this.sendFailures,
      retries: this.retries,
      txnCommits: { ...this.commits },
      staleReads: { ...this.staleReads },
      zoneTraffic: structuredClone(this.zone),
    };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.pdRegionLookups = 0;
    this.pdStoreLookups = 0;
    this.sendFailures = 0;
    this.retries = 0;
    this.commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
    this.staleReads = noStaleReads();
    this.zone = noZoneTraffic();
    this.sends.clear();
    this.regionErrors.clear();
    this.backoffs.clear();
  }
}
