// The prom-client side of the `metrics` option. This module imports prom-client statically and
// is itself imported (dynamically) only when metrics are enabled, so a client without them never
// loads either. Family and label names follow client-go's metrics/metrics.go.

import { Counter, Histogram, type Registry, register, Summary } from "prom-client";
import type { ReadTraffic } from "../actors/request/zone-traffic.js";
import type {
  CommitProtocol,
  LockResolverAction,
  MetricsSink,
  RegionCacheOp,
  StaleReadEvent,
  TxnCmd,
} from "../actors/runtime/metrics-sink.js";

// exponential buckets: `count` bounds from `start`, each `factor` times the previous
function exp(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

const PROTOCOL_LABEL: Record<CommitProtocol, string> = {
  "2pc": "2pc",
  asyncCommit: "async_commit",
  onePC: "1pc",
};

type RequestChild = ReturnType<Histogram<"type" | "store">["labels"]>;
type BatchChild = ReturnType<Histogram<"target">["labels"]>;

/**
 * Where the sink writes (the resolved `metrics` option; declared here, structurally, so this
 * module and the option's module do not import each other).
 */
interface SinkOptions {
  readonly registry: object | undefined;
  readonly prefix: string;
}

/** A {@link MetricsSink} writing to prom-client metrics in one registry. */
class PromSink implements MetricsSink {
  private readonly requestSeconds: Histogram<"type" | "store">;
  private readonly rpcErrors: Counter<"type" | "store">;
  private readonly regionErrors: Counter<"type" | "store">;
  private readonly backoffSeconds: Histogram<"type">;
  private readonly regionCacheOps: Counter<"type" | "result">;
  private readonly tsoWaitSeconds: Histogram;
  private readonly txnCmdSeconds: Histogram<"type">;
  private readonly txnWriteKeys: Histogram;
  private readonly txnWriteBytes: Histogram;
  private readonly txnCommits: Counter<"type">;
  private readonly lockResolverActions: Counter<"type">;
  private readonly batchRequests: Histogram<"target">;
  private readonly batchPending: Histogram<"target">;
  private readonly staleReadResults: Counter<"result">;
  private readonly staleReadEvents: Counter<"type">;
  private readonly staleReadRequests: Counter<"type">;
  private readonly staleReadBytes: Counter<"result" | "direction">;
  private readonly readRequestBytes: Summary<"type" | "result">;
  // label children of the hottest family, by command then store: no string built per request
  private readonly requestChildren = new Map<string, Map<bigint, RequestChild>>();
  private readonly batchChildren = new Map<string, [BatchChild, BatchChild]>();

  constructor(opts: SinkOptions) {
    const registry = (opts.registry as Registry | undefined) ?? register;
    const p = opts.prefix;
    // several clients may share a registry: the first one registers, the others reuse
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      (registry.getSingleMetric(p + name) as Histogram<L> | undefined) ??
      new Histogram<L>({ name: p + name, help, labelNames, buckets, registers: [registry] });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (registry.getSingleMetric(p + name) as Counter<L> | undefined) ??
      new Counter<L>({ name: p + name, help, labelNames, registers: [registry] });
    this.requestSeconds = histogram(
      "request_seconds",
      "Duration of TiKV requests, by command and store (transport included).",
      ["type", "store"],
      exp(0.0005, 2, 20),
    );
    this.rpcErrors = counter("rpc_err_total", "TiKV requests that failed in transport.", ["type", "store"]);
    this.regionErrors = counter("region_err_total", "Region errors received, by kind and store.", [
      "type",
      "store",
    ]);
    this.backoffSeconds = histogram(
      "backoff_seconds",
      "Backoff sleeps, by backoff kind (the count is the number of backoffs).",
      ["type"],
      exp(0.0005, 2, 20),
    );
    this.regionCacheOps = counter(
      "region_cache_operations_total",
      "PD lookups of the region cache (misses, loads by id, scans, store lookups), by outcome.",
      ["type", "result"],
    );
    this.tsoWaitSeconds = histogram(
      "ts_future_wait_seconds",
      "Time a transaction waited for a TSO timestamp.",
      [],
      exp(0.000005, 2, 25),
    );
    this.txnCmdSeconds = histogram(
      "txn_cmd_duration_seconds",
      "Duration of transaction commands (commit, rollback, lock_keys).",
      ["type"],
      exp(0.0005, 2, 20),
    );
    this.txnWriteKeys = histogram(
      "txn_write_kv_num",
      "Keys written by each committed transaction.",
      [],
      exp(1, 4, 17),
    );
    this.txnWriteBytes = histogram(
      "txn_write_size_bytes",
      "Bytes (keys and values) written by each committed transaction.",
      [],
      exp(16, 4, 17),
    );
    this.txnCommits = counter("txn_commit_total", "Committed transactions, by commit protocol.", ["type"]);
    this.batchRequests = histogram(
      "batch_requests",
      "Requests per BatchCommands message, by store address.",
      ["target"],
      exp(1, 2, 11),
    );
    this.batchPending = histogram(
      "batch_pending_requests",
      "Requests queued for a store in one event-loop turn when a BatchCommands message is written.",
      ["target"],
      exp(1, 2, 11),
    );
    this.lockResolverActions = counter("lock_resolver_actions_total", "Lock resolver actions and outcomes.", [
      "type",
    ]);
    // client-go stale_read_counter{result=hit|miss}
    this.staleReadResults = counter(
      "stale_read_counter",
      "Stale reads answered by their first attempt (hit) or not (miss).",
      ["result"],
    );
    this.staleReadEvents = counter(
      "stale_read_events_total",
      "Stale-read attempts sent, DataIsNotReady answers, and fallbacks to a leader read.",
      ["type"],
    );
    // client-go stale_read_req_counter{type=local|cross-zone}, stale_read_bytes{result, direction},
    // read_request_bytes{type=leader|follower, result=local|cross-zone} (zone option or metrics on)
    this.staleReadRequests = counter("stale_read_req_counter", "Stale read requests, by zone of the store.", [
      "type",
    ]);
    this.staleReadBytes = counter(
      "stale_read_bytes",
      "Bytes of stale read requests and responses, by zone.",
      ["result", "direction"],
    );
    this.readRequestBytes =
      (registry.getSingleMetric(`${p}read_request_bytes`) as Summary<"type" | "result"> | undefined) ??
      new Summary<"type" | "result">({
        name: `${p}read_request_bytes`,
        help: "Bytes of read requests plus their responses, by replica kind and zone.",
        labelNames: ["type", "result"],
        registers: [registry],
      });
  }

  request(cmd: string, storeId: bigint, seconds: number): void {
    let byStore = this.requestChildren.get(cmd);
    if (!byStore) {
      byStore = new Map();
      this.requestChildren.set(cmd, byStore);
    }
    let child = byStore.get(storeId);
    if (!child) {
      child = this.requestSeconds.labels(cmd, String(storeId));
      byStore.set(storeId, child);
    }
    child.observe(seconds);
  }

  rpcError(cmd: string, storeId: bigint): void {
    this.rpcErrors.labels(cmd, String(storeId)).inc();
  }

  regionError(kind: string, storeId: bigint | undefined): void {
    this.regionErrors.labels(kind, storeId === undefined ? "" : String(storeId)).inc();
  }

  backoff(kind: string, seconds: number): void {
    this.backoffSeconds.labels(kind).observe(seconds);
  }

  regionCacheOp(op: RegionCacheOp, ok: boolean): void {
    this.regionCacheOps.labels(op, ok ? "ok" : "err").inc();
  }

  tsoWait(seconds: number): void {
    this.tsoWaitSeconds.observe(seconds);
  }

  txnCmd(cmd: TxnCmd, seconds: number): void {
    this.txnCmdSeconds.labels(cmd).observe(seconds);
  }

  txnWrite(keys: number, bytes: number): void {
    this.txnWriteKeys.observe(keys);
    this.txnWriteBytes.observe(bytes);
  }

  txnCommit(protocol: CommitProtocol): void {
    this.txnCommits.labels(PROTOCOL_LABEL[protocol]).inc();
  }

  lockResolver(action: LockResolverAction): void {
    this.lockResolverActions.labels(action).inc();
  }

  batch(target: string, requests: number, queued: number): void {
    let c = this.batchChildren.get(target);
    if (!c) {
      c = [this.batchRequests.labels(target), this.batchPending.labels(target)];
      this.batchChildren.set(target, c);
    }
    c[0].observe(requests);
    c[1].observe(queued);
  }

  staleRead(event: StaleReadEvent): void {
    if (event === "hit" || event === "miss") this.staleReadResults.labels(event).inc();
    else this.staleReadEvents.labels(event).inc();
  }

  readTraffic(t: ReadTraffic): void {
    const zone = t.location === "cross-zone" ? "cross-zone" : "local";
    if (t.staleRead) {
      this.staleReadRequests.labels(zone).inc();
      this.staleReadBytes.labels(zone, "out").inc(t.sentBytes);
      this.staleReadBytes.labels(zone, "in").inc(t.receivedBytes);
    }
    if (t.location !== "unknown") {
      this.readRequestBytes
        .labels(t.replicaRead ? "follower" : "leader", zone)
        .observe(t.sentBytes + t.receivedBytes);
    }
  }
}

/** The sink of a client with metrics enabled. */
export function createPromSink(opts: SinkOptions): MetricsSink {
  return new PromSink(opts);
}
