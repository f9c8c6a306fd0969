// The observer of one transaction: made at begin only when the transaction is traced or someone
// observes the client (otherwise nothing below runs). It taps the transaction's committer and
// its snapshots' reads (inspection callback, RPC interceptor, backoffers, lock resolver) and
// turns what it sees into TxnEvents: kept for the trace, published to the hub.
import type { InspectionEvent } from "xstate";
import type { LockDetails } from "../../errors/txn.js";
import { Op } from "../../proto/kvrpcpb.js";
import type { Backoffer } from "../backoff/backoffer.js";
import type { RpcInterceptor, RpcInvoker, RpcRequest } from "../request/interceptor.js";
import type { RequestControl } from "../runtime/raw-sender.js";
import type { LockResolver } from "../txn/lock-resolver.js";
import {
  type ActorTransition,
  type LockMet,
  printableKey,
  type RpcOutcome,
  type TxnEvent,
  type TxnKind,
} from "./events.js";
import type { ObserveHub } from "./hub.js";
import { rollbackOutcome, TRACE_FORMAT, TRACE_VERSION, type TraceOutcome, type TxnTrace } from "./trace.js";
import { transitionInspector } from "./transitions.js";

/** How a commit ended, as the recorder is told. */
export interface CommitEnd {
  commitTs: bigint;
  info: { mode: string; asyncCommitFallback: boolean; onePCFallback: boolean } | undefined;
}

// the first field set in a region error / key error message, as its kind
function kindOf(msg: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(msg)) if (k !== "message" && v !== undefined && v !== "") return k;
  return undefined;
}

function classify(resp: unknown): { outcome: RpcOutcome; detail?: string } {
  const r = resp as
    | { regionError?: Record<string, unknown>; error?: unknown; errors?: unknown[] }
    | undefined;
  if (r?.regionError) return { outcome: "regionError", detail: kindOf(r.regionError) ?? "regionError" };
  const ke = Array.isArray(r?.errors) && r.errors.length > 0 ? r.errors[0] : r?.error;
  if (ke && typeof ke === "object")
    return { outcome: "keyError", detail: kindOf(ke as Record<string, unknown>) };
  return { outcome: "ok" };
}

function errorSummary(e: unknown): { name: string; code?: string; message: string } {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const code = (e as { code?: unknown }).code;
  return typeof code === "string"
    ? { name: e.name, code, message: e.message }
    : { name: e.name, message: e.message };
}

/** Events a trace keeps at most (then the oldest after `begin` are dropped, and counted). */
const MAX_TRACE_EVENTS = 10_000;

/** @internal Records one transaction's events; see the file comment. */
export class TxnRecorder {
  readonly txn: string;
  private readonly events: TxnEvent[] | undefined;
  private readonly startedAt = Date.now();
  private endedAt: number | undefined;
  private outcome: TraceOutcome = "active";
  private readonly machines = new Set<string>();
  private info: CommitEnd["info"];
  /** Events dropped from a full trace. */
  private dropped = 0;

  constructor(
    startTs: bigint,
    private readonly kind: TxnKind,
    /** Where events go live (undefined: trace only). */
    private readonly hub: ObserveHub | undefined,
    /** Keep the events for {@link trace}. */
    tracing: boolean,
  ) {
    this.txn = startTs.toString();
    this.events = tracing ? [] : undefined;
  }

  private emit(e: TxnEvent): void {
    const kept = this.events;
    if (kept) {
      // a transaction retrying for long keeps its begin and its latest events
      if (kept.length >= MAX_TRACE_EVENTS) {
        kept.splice(1, 1);
        this.dropped++;
      }
      kept.push(e);
    }
    this.hub?.publishTxn(e);
  }

  begin(asyncCommit: boolean, onePC: boolean): void {
    this.emit({ type: "begin", txn: this.txn, at: this.startedAt, kind: this.kind, asyncCommit, onePC });
  }

  commitStart(keys: readonly Uint8Array[], primaryIndex: number): void {
    this.emit({
      type: "commitStart",
      txn: this.txn,
      at: Date.now(),
      keys: keys.length,
      sampleKeys: keys.slice(0, 16).map(printableKey),
      primary: keys[primaryIndex] ? printableKey(keys[primaryIndex] as Uint8Array) : "",
    });
  }

  /** The committer's protocol and fallbacks, told as its commit settles (success or not). */
  noteInfo(info: NonNullable<CommitEnd["info"]>): void {
    this.info = { ...info };
  }

  committed(end: CommitEnd): void {
    this.end("committed");
    this.emit({
      type: "commit",
      txn: this.txn,
      at: Date.now(),
      commitTs: end.commitTs.toString(),
      ...(end.info ? { mode: end.info.mode } : {}),
      asyncCommitFallback: end.info?.asyncCommitFallback ?? false,
      onePCFallback: end.info?.onePCFallback ?? false,
      durationMs: Date.now() - this.startedAt,
    });
  }

  /** The transaction ended without a commit: `error` set = its commit failed. */
  rolledBack(error: unknown, undetermined = false): void {
    const info = error === undefined ? undefined : this.info;
    const reason = error === undefined ? "user" : undetermined ? "undetermined" : "commitFailed";
    this.end(rollbackOutcome(reason));
    this.emit({
      type: "rollback",
      txn: this.txn,
      at: Date.now(),
      reason,
      ...(info
        ? {
            mode: info.mode,
            asyncCommitFallback: info.asyncCommitFallback,
            onePCFallback: info.onePCFallback,
          }
        : {}),
      ...(error === undefined ? {} : { error: errorSummary(error) }),
      durationMs: Date.now() - this.startedAt,
    });
  }

  private end(o: TraceOutcome): void {
    if (this.outcome !== "active") return;
    this.outcome = o;
    this.endedAt = Date.now();
  }

  /** The trace so far (a copy); undefined unless tracing. */
  trace(): TxnTrace | undefined {
    if (!this.events) return undefined;
    const t: TxnTrace = {
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      txn: this.txn,
      kind: this.kind,
      startedAt: this.startedAt,
      outcome: this.outcome,
      machines: [...this.machines],
      events: this.events.map((e) => ({ ...e })),
    };
    if (this.endedAt !== undefined) t.endedAt = this.endedAt;
    if (this.dropped > 0) t.dropped = this.dropped;
    return t;
  }

  // ---- taps on the committer ----

  /** Inspection callback for the transaction's actors (its committer). */
  get inspect(): (ev: InspectionEvent) => void {
    this.inspector ??= transitionInspector((t: ActorTransition) => {
      this.machines.add(t.kind);
      this.emit({
        type: "state",
        txn: this.txn,
        at: t.at,
        machine: t.kind,
        from: t.from,
        to: t.to,
        event: t.event,
      });
      if (!this.hubSeesActors) this.hub?.publishTransition(t);
    }, this.txn);
    return this.inspector;
  }

  private inspector: ((ev: InspectionEvent) => void) | undefined;
  /** The hub inspects every actor itself (live view on): do not report transitions twice. */
  hubSeesActors = false;

  /** RPC interceptor recording every attempt (command, region, store, outcome, duration). */
  readonly interceptor: RpcInterceptor = {
    name: "tikv-ts:txn-recorder",
    wrap:
      (next: RpcInvoker): RpcInvoker =>
      async (req: RpcRequest) => {
        const t0 = Date.now();
        try {
          const resp = await next(req);
          this.rpc(req, t0, classify(resp));
          return resp;
        } catch (e) {
          this.rpc(req, t0, { outcome: "failed", detail: e instanceof Error ? e.message : String(e) });
          throw e;
        }
      },
  };

  private rpc(req: RpcRequest, t0: number, c: { outcome: RpcOutcome; detail?: string | undefined }): void {
    this.emit({
      type: "rpc",
      txn: this.txn,
      at: t0,
      command: req.command,
      regionId: req.regionId.toString(),
      storeId: req.storeId.toString(),
      address: req.address,
      attempt: req.attempt,
      outcome: c.outcome,
      ...(c.detail === undefined ? {} : { detail: c.detail }),
      durationMs: Date.now() - t0,
    });
  }

  /** Taps `ctl`'s backoffer (and its forks) so each backoff is recorded. Returns `ctl`. */
  control<C extends RequestControl>(ctl: C): C {
    this.tapBackoffer(ctl.bo);
    ctl.tapBackoffer = this.tap;
    return ctl;
  }

  private readonly tap = (bo: Backoffer) => this.tapBackoffer(bo);

  private tapBackoffer(bo: Backoffer): void {
    const next = bo.next.bind(bo);
    bo.next = (cfg, err, maxSleepMs) => {
      const ms = next(cfg, err, maxSleepMs);
      this.emit({
        type: "backoff",
        txn: this.txn,
        at: Date.now(),
        kind: cfg.name,
        sleepMs: ms,
        reason: err instanceof Error ? err.message : String(err),
      });
      return ms;
    };
    for (const m of ["fork", "clone"] as const) {
      const orig = bo[m].bind(bo);
      bo[m] = () => {
        const b = orig();
        this.tapBackoffer(b);
        return b;
      };
    }
  }

  /**
   * `resolver`, with each lock resolution of this transaction recorded: those of its commit and
   * lock calls, and (`forRead`) those of its reads, with what the read learned to skip or read through.
   */
  resolver(resolver: LockResolver): LockResolver {
    const tapped = Object.create(resolver) as LockResolver;
    tapped.resolveLocks = async (locks, opts) => {
      const t0 = Date.now();
      const shown = locks.slice(0, 16);
      const base = {
        type: "lockResolve" as const,
        txn: this.txn,
        at: t0,
        owners: [...new Set(locks.map((l) => l.startTs.toString()))],
        keys: shown.map((l) => printableKey(l.key)),
        locks: shown.map(lockMet),
        ...(opts.forRead ? { forRead: true } : {}),
      };
      try {
        const r = await resolver.resolveLocks(locks, opts);
        this.emit({
          ...base,
          ...(opts.forRead
            ? { ignored: r.ignoreLocks.map(String), readThrough: r.accessLocks.map(String) }
            : {}),
          outcome: r.msBeforeTxnExpired > 0 ? "alive" : "resolved",
          msBeforeExpired: r.msBeforeTxnExpired,
          durationMs: Date.now() - t0,
        });
        return r;
      } catch (e) {
        this.emit({ ...base, outcome: "failed", msBeforeExpired: 0, durationMs: Date.now() - t0 });
        throw e;
      }
    };
    return tapped;
  }
}

function lockMet(l: LockDetails): LockMet {
  return {
    key: printableKey(l.key),
    primary: printableKey(l.primary),
    startTs: l.startTs.toString(),
    kind: Op[l.lockType] ?? String(l.lockType),
    ttlMs: Number(l.ttl),
  };
}

/** The recorder of a transaction beginning now, or undefined when nobody needs one (the common case). */
export function recorderFor(
  hub: ObserveHub | undefined,
  trace: boolean,
  startTs: bigint,
  kind: TxnKind,
): TxnRecorder | undefined {
  const live = hub?.txnActive ? hub : undefined;
  if (!live && !trace) return undefined;
  return new TxnRecorder(startTs, kind, live, trace);
}
