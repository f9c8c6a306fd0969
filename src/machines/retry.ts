// The request retry statechart and the region-error policy it applies. Region errors are
// classified once (classifyRegionError: one event per errorpb.Error kind, in client-go's order)
// and decideOnRegionError picks: retry now, switch peer, back off (which Bo* kind), refresh
// the region (return to the caller / relocate), or fail. The machine sequences selection,
// sending, backoff sleeps (`after`), epoch updates and relocation; all I/O is injected
// (`send`, `applyEpochNotMatch`, `relocate` actors). Per-request state lives in a mutable
// RetrySession held by reference, so transitions allocate nothing per attempt.
// Semantics follow client-go internal/locate/region_request.go (sendReqState.next, onSendFail,
// onRegionError) and replica_selector.go.

import { fromPromise, setup } from "xstate";
import { AbortedError, type TikvError } from "../errors/index.js";
import {
  RegionError,
  RegionFlashbackInProgressError,
  RegionFlashbackNotPreparedError,
} from "../errors/server.js";
import { ResultUndeterminedError } from "../errors/txn.js";
import { Error as RegionErrorProto } from "../proto/errorpb.js";
import type { Peer, Region } from "../proto/metapb.js";
import { wasNotSent } from "../rpc/errors.js";
import { type BackoffConfig, Bo } from "./policy/backoff-config.js";
import { describeRegionError, mayBackoffForRegionError } from "./policy/region-error.js";
import type {
  BackoffBudget,
  EpochNotMatchOutcome,
  RegionEntry,
  RetryRegionCache,
  RetryReplicaSelector,
} from "./ports.js";

/** One classified region error. */
export type RegionErrorEvent =
  | { type: "UNDETERMINED_RESULT"; message: string }
  | { type: "NOT_LEADER"; leader: Peer | undefined }
  | { type: "DISK_FULL"; storeIds: bigint[]; reason: string }
  | { type: "RECOVERY_IN_PROGRESS" }
  | { type: "IS_WITNESS" }
  | { type: "FLASHBACK_IN_PROGRESS"; regionId: bigint; flashbackStartTs: bigint }
  | { type: "FLASHBACK_NOT_PREPARED"; regionId: bigint }
  | { type: "REGION_NOT_FOUND" }
  | { type: "KEY_NOT_IN_REGION" }
  | { type: "EPOCH_NOT_MATCH"; currentRegions: Region[] }
  | { type: "BUCKET_VERSION_NOT_MATCH"; version: bigint; keys: Buffer[] }
  | { type: "SERVER_IS_BUSY"; reason: string; estimatedWaitMs: number }
  | { type: "STALE_COMMAND" }
  | { type: "STORE_NOT_MATCH"; requestStoreId: bigint; actualStoreId: bigint }
  | { type: "RAFT_ENTRY_TOO_LARGE" }
  | { type: "MAX_TIMESTAMP_NOT_SYNCED" }
  | { type: "REGION_NOT_INITIALIZED" }
  | { type: "READ_INDEX_NOT_READY" }
  | { type: "PROPOSAL_IN_MERGING_MODE" }
  | { type: "DATA_IS_NOT_READY"; safeTs: bigint }
  | { type: "DEADLINE_EXCEEDED" }
  | { type: "MISMATCH_PEER_ID"; requestPeerId: bigint; storePeerId: bigint }
  | { type: "INVALID_MAX_TS_UPDATE" }
  | { type: "UNKNOWN"; message: string };

/** Kind names of {@link RegionErrorEvent}. */
export type RegionErrorKind = RegionErrorEvent["type"];

/** Maps an errorpb.Error to its event. Pure; the first matching kind wins (client-go's order). */
export function classifyRegionError(e: RegionErrorProto): RegionErrorEvent {
  if (e.undeterminedResult) return { type: "UNDETERMINED_RESULT", message: e.undeterminedResult.message };
  if (e.notLeader) return { type: "NOT_LEADER", leader: e.notLeader.leader };
  if (e.diskFull) return { type: "DISK_FULL", storeIds: e.diskFull.storeId, reason: e.diskFull.reason };
  if (e.RecoveryInProgress) return { type: "RECOVERY_IN_PROGRESS" };
  if (e.isWitness) return { type: "IS_WITNESS" };
  if (e.FlashbackInProgress) {
    return {
      type: "FLASHBACK_IN_PROGRESS",
      regionId: e.FlashbackInProgress.regionId,
      flashbackStartTs: e.FlashbackInProgress.flashbackStartTs,
    };
  }
  if (e.FlashbackNotPrepared)
    return { type: "FLASHBACK_NOT_PREPARED", regionId: e.FlashbackNotPrepared.regionId };
  if (e.regionNotFound) return { type: "REGION_NOT_FOUND" };
  if (e.keyNotInRegion) return { type: "KEY_NOT_IN_REGION" };
  if (e.epochNotMatch) return { type: "EPOCH_NOT_MATCH", currentRegions: e.epochNotMatch.currentRegions };
  if (e.bucketVersionNotMatch) {
    const b = e.bucketVersionNotMatch;
    return { type: "BUCKET_VERSION_NOT_MATCH", version: b.version, keys: b.keys };
  }
  if (e.serverIsBusy) {
    return {
      type: "SERVER_IS_BUSY",
      reason: e.serverIsBusy.reason,
      estimatedWaitMs: e.serverIsBusy.estimatedWaitMs,
    };
  }
  if (e.staleCommand) return { type: "STALE_COMMAND" };
  if (e.storeNotMatch) {
    return {
      type: "STORE_NOT_MATCH",
      requestStoreId: e.storeNotMatch.requestStoreId,
      actualStoreId: e.storeNotMatch.actualStoreId,
    };
  }
  if (e.raftEntryTooLarge) return { type: "RAFT_ENTRY_TOO_LARGE" };
  if (e.maxTimestampNotSynced) return { type: "MAX_TIMESTAMP_NOT_SYNCED" };
  if (e.regionNotInitialized) return { type: "REGION_NOT_INITIALIZED" };
  if (e.readIndexNotReady) return { type: "READ_INDEX_NOT_READY" };
  if (e.proposalInMergingMode) return { type: "PROPOSAL_IN_MERGING_MODE" };
  if (e.dataIsNotReady) return { type: "DATA_IS_NOT_READY", safeTs: e.dataIsNotReady.safeTs };
  // TiKV reports its own read deadline as a message-only region error
  if (e.message.includes("Deadline is exceeded")) return { type: "DEADLINE_EXCEEDED" };
  if (e.mismatchPeerId) {
    return {
      type: "MISMATCH_PEER_ID",
      requestPeerId: e.mismatchPeerId.requestPeerId,
      storePeerId: e.mismatchPeerId.storePeerId,
    };
  }
  if (e.message.includes("invalid max_ts update")) return { type: "INVALID_MAX_TS_UPDATE" };
  return { type: "UNKNOWN", message: e.message };
}

// ---------------------------------------------------------------------------------------------
// Decisions

/** What to do after an outcome. */
export type Decision =
  /** Select a replica again now (switch peer or retry the same). */
  | { kind: "retry" }
  /** Sleep `ms` (accounted to backoff kind `backoff`), then retry or treat the region as changed. */
  | { kind: "sleep"; ms: number; backoff: string; then: "retry" | "regionChanged" }
  /** Apply the EpochNotMatch's current regions to the cache (async), then decide. */
  | { kind: "epochNotMatch"; currentRegions: Region[] }
  /** The cached region is wrong: give the region error back to the caller, or relocate the key. */
  | { kind: "regionChanged" }
  /** Stop with this error. */
  | { kind: "fail"; error: Error };

/** Outcome of one send: a response (maybe carrying a region error) or a transport error. */
export type SendOutcome = { resp: unknown; error?: undefined } | { error: Error; resp?: undefined };

/** Final result of a retry run. */
export type RetryResult =
  | { kind: "ok"; resp: unknown }
  /** The response carries a region error the caller must handle by re-splitting (region target). */
  | { kind: "regionError"; resp: unknown; regionError: RegionErrorProto }
  | { kind: "error"; error: Error };

/** Reads below this timeout make a timed-out replica be skipped without backoff (client-go ReadTimeoutShort). */
export const READ_TIMEOUT_SHORT_MS = 30_000;

/** Per-request state the machine works on (mutated in place; held by reference in context). */
export interface RetrySession {
  /** The client's region cache. */
  cache: RetryRegionCache;
  /** Replica choice on the current region. */
  selector: RetryReplicaSelector;
  /** The request's retry budget. */
  bo: BackoffBudget;
  /** True for read commands. */
  isRead: boolean;
  /** Per-attempt RPC timeout (ms). */
  rpcTimeoutMs: number;
  /**
   * The client's ordinary RPC timeout (ms; default READ_TIMEOUT_SHORT_MS): a read asking for less
   * skips a timed-out replica without backing off.
   */
  readTimeoutShortMs?: number;
  /** Whole-call deadline (epoch ms; Infinity = none): past it, a failed attempt ends the call. */
  deadline: number;
  /** True when the target is a key (relocate on region change); false for a region target (return the error). */
  relocatable: boolean;
  /**
   * The request must take effect at most once (raw writes): an attempt that may have reached
   * TiKV is not sent again, since a re-sent put can land after a later overwrite of its key and
   * a re-sent CAS answers about its own first effect. Such a failure ends the call (the caller
   * reports it as undetermined). Transactional requests are idempotent per start ts: false.
   */
  applyOnce?: boolean;
  /** Builds a selector for a new region after relocation. */
  newSelector(region: RegionEntry): RetryReplicaSelector;
  /** Called on StoreNotMatch so the connection to that store is re-established. */
  onStoreNotMatch?(storeId: bigint): void;
  /** Number of attempts sent. */
  sendTimes: number;
  /** Relocations done. */
  relocations: number;
  /** Stores whose send failed since the last region reload (client-go NeedReloadRegion). */
  failedStores: Set<bigint>;
  /** The latest response. */
  resp: unknown;
  /** The latest region error. */
  regionError: RegionErrorProto | undefined;
  /** The latest send error. */
  sendError: Error | undefined;
  /** The decision being routed. */
  decision: Decision;
  /** How long the current sleep state waits. */
  sleepMs: number;
  /** Set when the run ends. */
  result: RetryResult | undefined;
}

/** Upper bound on relocations per request (each normally costs a RegionMiss backoff). */
export const MAX_RELOCATIONS = 64;

function isConfigurableReadTimeout(s: RetrySession): boolean {
  return s.isRead && s.rpcTimeoutMs < (s.readTimeoutShortMs ?? READ_TIMEOUT_SHORT_MS);
}

function sleepThen(
  s: RetrySession,
  cfg: BackoffConfig,
  reason: unknown,
  then: "retry" | "regionChanged",
): Decision {
  try {
    return { kind: "sleep", ms: s.bo.next(cfg, reason), backoff: cfg.name, then };
  } catch (e) {
    return { kind: "fail", error: e as Error };
  }
}

function regionLabel(s: RetrySession): string {
  const t = s.selector.target;
  return `region ${s.selector.region.id}${t ? ` on store ${t.storeId}` : ""}`;
}

/**
 * The region-error policy (client-go onRegionError with a replica selector). Mutates the
 * selector / cache as client-go does (leader switch, invalidation, flags) and returns the decision.
 */
export function decideOnRegionError(s: RetrySession, ev: RegionErrorEvent, raw: RegionErrorProto): Decision {
  const sel = s.selector;
  const region = sel.region;
  const why = (text: string) => new Error(`${text} (${regionLabel(s)})`);
  switch (ev.type) {
    case "UNDETERMINED_RESULT":
      return { kind: "fail", error: new ResultUndeterminedError({ cause: new RegionError(raw, region.id) }) };
    case "NOT_LEADER":
      if (sel.onNotLeader(ev.leader) === "retry") return { kind: "retry" };
      return sleepThen(s, Bo.RegionScheduling, why("not leader, no leader known"), "retry");
    case "DISK_FULL":
      return sleepThen(s, Bo.TiKVDiskFull, why(`tikv disk full: ${ev.reason}`), "retry");
    case "RECOVERY_IN_PROGRESS":
      s.cache.invalidate(region, "other");
      return sleepThen(s, Bo.RegionRecoveryInProgress, why("region recovery in progress"), "regionChanged");
    case "IS_WITNESS":
      s.cache.invalidate(region, "other");
      return sleepThen(s, Bo.IsWitness, why("peer is witness"), "regionChanged");
    case "FLASHBACK_IN_PROGRESS":
      // a replica read may still go to the leader; anything else stops at once
      if (sel.onFlashbackInProgress()) return { kind: "retry" };
      return {
        kind: "fail",
        error: new RegionFlashbackInProgressError(
          `region ${ev.regionId} is in flashback progress, FlashbackStartTS is ${ev.flashbackStartTs}`,
        ),
      };
    case "FLASHBACK_NOT_PREPARED":
      return {
        kind: "fail",
        error: new RegionFlashbackNotPreparedError(`region ${ev.regionId} is not prepared for the flashback`),
      };
    case "REGION_NOT_FOUND":
      return sel.onRegionNotFound() ? { kind: "retry" } : { kind: "regionChanged" };
    case "KEY_NOT_IN_REGION":
      s.cache.invalidate(region, "other");
      return { kind: "regionChanged" };
    case "EPOCH_NOT_MATCH":
      return { kind: "epochNotMatch", currentRegions: ev.currentRegions };
    case "BUCKET_VERSION_NOT_MATCH":
      // client-go onRegionError: take TiKV's buckets into the cache, then hand the error back
      // (no retry here) so the caller re-splits the request against the new buckets
      s.cache.onBucketVersionNotMatch(region, ev.version, ev.keys);
      return { kind: "regionChanged" };
    case "SERVER_IS_BUSY":
      if (ev.reason.includes("deadline is exceeded") && isConfigurableReadTimeout(s)) {
        sel.onReadTimeout();
        return { kind: "retry" };
      }
      if (sel.onServerIsBusy(ev.estimatedWaitMs, why("server is busy")) === "fastRetry")
        return { kind: "retry" };
      return sleepThen(s, Bo.TiKVServerBusy, why("server is busy"), "retry");
    case "STALE_COMMAND":
      // the old leader's term ended; the selector tries the next peer while a leader is elected
      return { kind: "retry" };
    case "STORE_NOT_MATCH": {
      const t = sel.target;
      if (t) {
        s.cache.stores.markNeedCheck(t.storeId);
        s.onStoreNotMatch?.(t.storeId);
      }
      s.cache.invalidate(region, "other");
      return { kind: "regionChanged" };
    }
    case "RAFT_ENTRY_TOO_LARGE":
    case "INVALID_MAX_TS_UPDATE":
      return { kind: "fail", error: new RegionError(raw, region.id) };
    case "MAX_TIMESTAMP_NOT_SYNCED":
      return sleepThen(s, Bo.MaxTsNotSynced, why("max timestamp not synced"), "retry");
    case "REGION_NOT_INITIALIZED":
      return sleepThen(s, Bo.MaxRegionNotInitialized, why("region not initialized"), "retry");
    case "READ_INDEX_NOT_READY":
      return sleepThen(s, Bo.RegionScheduling, why("read index not ready"), "retry");
    case "PROPOSAL_IN_MERGING_MODE":
      return sleepThen(s, Bo.RegionScheduling, why("region is merging"), "retry");
    case "DATA_IS_NOT_READY":
      // no backoff: the next attempt is a normal (leader or replica) read
      sel.onDataIsNotReady();
      return { kind: "retry" };
    case "DEADLINE_EXCEEDED":
      if (isConfigurableReadTimeout(s)) {
        sel.onReadTimeout();
        return { kind: "retry" };
      }
      return { kind: "retry" };
    case "MISMATCH_PEER_ID":
      sel.invalidateRegion();
      return { kind: "regionChanged" };
    case "UNKNOWN":
      return { kind: "retry" };
  }
}

/**
 * A send failed (client-go onSendFail): caller aborts, closed clients and refused calls stop; a short read
 * timeout skips the replica; anything else marks the store, maybe schedules a region reload,
 * and backs off with TiKVRPC before the next replica.
 */
export function decideOnSendFailure(s: RetrySession, err: Error): Decision {
  const code: string = (err as TikvError).code;
  // (RPC_REJECTED: an interceptor refused the call; retrying would only be refused again;
  // TOKEN_LIMIT: the store's request tokens are taken, which client-go's sender returns at once;
  // RESOURCE_GROUP_*: the resource control interceptor refused it, as client-go's returns at once;
  // TLS: the store refused our handshake or certificate, which no retry with it changes)
  if (
    code === "TLS" ||
    code === "ABORTED" ||
    code === "CLOSED" ||
    code === "SHUTTING_DOWN" ||
    code === "RPC_REJECTED" ||
    code === "TOKEN_LIMIT" ||
    code === "RESOURCE_GROUP_THROTTLED" ||
    code === "RESOURCE_GROUP_NOT_FOUND"
  )
    return { kind: "fail", error: err };
  // the call's own deadline passed: retrying cannot help (and must not spin without yielding)
  if (code === "TIMEOUT" && Date.now() >= s.deadline) return { kind: "fail", error: err };
  if (code === "TIMEOUT" && isConfigurableReadTimeout(s)) {
    s.selector.onReadTimeout();
    return { kind: "retry" };
  }
  const sel = s.selector;
  const t = sel.target;
  if (t) {
    s.failedStores.add(t.storeId);
    if (s.failedStores.size >= sel.region.peers.length) {
      s.failedStores.clear();
      s.cache.scheduleReload(sel.region);
    }
  }
  sel.onSendFailure();
  // the store is marked as above, but a write that may have been applied is not sent again
  if (s.applyOnce && !wasNotSent(err)) return { kind: "fail", error: err };
  return sleepThen(
    s,
    Bo.TiKVRPC,
    new Error(`send tikv request error: ${err.message}, try next peer later`),
    "retry",
  );
}

/** After an EpochNotMatch was applied to the cache (client-go OnRegionEpochNotMatch's result). */
export function decideAfterEpochNotMatch(s: RetrySession, outcome: EpochNotMatchOutcome): Decision {
  if (outcome === "aheadOfTikv") {
    return sleepThen(
      s,
      Bo.RegionMiss,
      new Error(`region epoch is ahead of tikv (${regionLabel(s)})`),
      "retry",
    );
  }
  s.selector.invalidateRegion();
  return { kind: "regionChanged" };
}

/** The fake region error returned when no replica can be tried (client-go's pseudo EpochNotMatch). */
export function noReplicaRegionError(): RegionErrorProto {
  return RegionErrorProto.fromPartial({
    epochNotMatch: { currentRegions: [] },
    message: "no replica available",
  });
}

// ---------------------------------------------------------------------------------------------
// The statechart

/** Input of {@link retryMachine}. */
export interface RetryInput {
  session: RetrySession;
  /** Outcome of an attempt already made on the fast path (the selector's target is that attempt). */
  initial?: SendOutcome;
}

/**
 * Events from outside: START (sent once after the actor started: custom actions only run
 * in a running actor, and the routing guards read what they wrote), and ABORT (the caller
 * aborted or the call timed out).
 */
export type RetryEvent = { type: "START" } | { type: "ABORT"; error: Error };

// Where each decision leads. Each deciding state lists only the decisions its decide function
// can make (decideOnRegionError: any; decideOnSendFailure: retry, sleep or fail;
// decideAfterEpochNotMatch: sleep, region changed or fail), so the chart has no dead edges.
const toSelecting = { guard: "decidedRetry", target: "selecting" } as const;
const toBackingOff = { guard: "decidedSleep", target: "backingOff" } as const;
const toUpdatingEpoch = { guard: "decidedEpoch", target: "updatingEpoch" } as const;
const toRegionChanged = { guard: "decidedRegionChanged", target: "regionChanged" } as const;
const toFailed = { target: "failed" } as const;
const regionErrorRoutes = [toSelecting, toBackingOff, toUpdatingEpoch, toRegionChanged, toFailed] as const;
const sendFailureRoutes = [toSelecting, toBackingOff, toFailed] as const;
const afterEpochRoutes = [toBackingOff, toRegionChanged, toFailed] as const;

/**
 * The retry statechart of one request that left the fast path. The `send` actor performs one
 * attempt to `session.selector.target`; `applyEpochNotMatch` updates the cache from an
 * EpochNotMatch; `relocate` finds the key's region again. Output: the {@link RetryResult}.
 */
export const retryMachine = setup({
  types: {
    context: {} as { s: RetrySession },
    input: {} as RetryInput,
    events: {} as RetryEvent,
    output: {} as RetryResult,
  },
  actors: {
    send: fromPromise<SendOutcome, RetrySession>(async () => ({
      error: new Error("no store sender injected"),
    })),
    applyEpochNotMatch: fromPromise<EpochNotMatchOutcome, { s: RetrySession; currentRegions: Region[] }>(
      async ({ input }) => {
        const t = input.s.selector.target;
        return input.s.cache.onEpochNotMatch(input.s.selector.region, input.currentRegions, t?.storeId ?? 0n);
      },
    ),
    relocate: fromPromise<RegionEntry, RetrySession>(async () => {
      throw new Error("no relocate injected");
    }),
  },
  delays: {
    sleep: ({ context }) => context.s.sleepMs,
  },
  guards: {
    hasInitial: ({ context }) => context.s.resp !== undefined || context.s.sendError !== undefined,
    noTarget: ({ context }) => context.s.selector.target === undefined,
    needsSleep: ({ context }) => context.s.sleepMs > 0,
    isSendError: ({ context }) => context.s.sendError !== undefined,
    isRegionError: ({ context }) => context.s.regionError !== undefined,
    decidedRetry: ({ context }) => context.s.decision.kind === "retry",
    decidedSleep: ({ context }) => context.s.decision.kind === "sleep",
    decidedEpoch: ({ context }) => context.s.decision.kind === "epochNotMatch",
    decidedRegionChanged: ({ context }) => context.s.decision.kind === "regionChanged",
    sleepLeadsToRegionChanged: ({ context }) => {
      const d = context.s.decision;
      return d.kind === "sleep" && d.then === "regionChanged";
    },
    relocatable: ({ context }) => context.s.relocatable && context.s.decision.kind !== "fail",
    failed: ({ context }) => context.s.decision.kind === "fail",
  },
  actions: {
    select: ({ context }) => {
      const s = context.s;
      s.sleepMs = 0;
      s.resp = undefined;
      s.regionError = undefined;
      s.sendError = undefined;
      const t = s.selector.next();
      if (!t) return;
      // a ServerIsBusy seen on this store earlier is paid before going back to it
      const p = s.selector.takePendingBackoff(t.storeId);
      if (!p) return;
      try {
        s.sleepMs = s.bo.next(p.cfg, p.err);
      } catch (e) {
        s.selector.target = undefined;
        s.decision = { kind: "fail", error: e as Error };
      }
    },
    recordOutcome: ({ context }, o: SendOutcome) => {
      const s = context.s;
      s.sendTimes++;
      s.resp = o.resp;
      s.sendError = o.error;
      s.regionError = o.error
        ? undefined
        : (o.resp as { regionError?: RegionErrorProto } | undefined)?.regionError;
    },
    decideRegionError: ({ context }) => {
      const s = context.s;
      const raw = s.regionError as RegionErrorProto;
      s.decision = decideOnRegionError(s, classifyRegionError(raw), raw);
      if (s.decision.kind === "sleep") s.sleepMs = s.decision.ms;
    },
    decideSendFailure: ({ context }) => {
      const s = context.s;
      s.decision = decideOnSendFailure(s, s.sendError as Error);
      if (s.decision.kind === "sleep") s.sleepMs = s.decision.ms;
    },
    decideEpoch: ({ context }, outcome: EpochNotMatchOutcome) => {
      const s = context.s;
      s.decision = decideAfterEpochNotMatch(s, outcome);
      if (s.decision.kind === "sleep") s.sleepMs = s.decision.ms;
    },
    noCandidate: ({ context }) => {
      const s = context.s;
      if (
        s.decision.kind === "fail" &&
        s.selector.target === undefined &&
        s.sleepMs === 0 &&
        s.result === undefined
      ) {
        // select() already failed on a pending backoff
        if (s.decision.error) return;
      }
      s.regionError = noReplicaRegionError();
      s.resp = { regionError: s.regionError };
      s.decision = { kind: "regionChanged" };
      const p = s.selector.largestPendingBackoff();
      if (!p) return;
      try {
        s.sleepMs = s.bo.next(p.cfg, p.err);
      } catch (e) {
        s.decision = { kind: "fail", error: e as Error };
      }
    },
    prepareRelocate: ({ context }) => {
      const s = context.s;
      s.sleepMs = 0;
      if (!s.relocatable) return;
      if (s.relocations >= MAX_RELOCATIONS) {
        s.decision = {
          kind: "fail",
          error: new RegionError(s.regionError ?? noReplicaRegionError(), s.selector.region.id),
        };
        return;
      }
      try {
        // client-go callers back off RegionMiss before re-splitting, except on a real EpochNotMatch
        s.sleepMs = mayBackoffForRegionError(s.regionError, s.bo);
      } catch (e) {
        s.decision = { kind: "fail", error: e as Error };
      }
    },
    useRegion: ({ context }, region: RegionEntry) => {
      const s = context.s;
      s.relocations++;
      s.failedStores.clear();
      s.selector = s.newSelector(region);
    },
    succeed: ({ context }) => {
      const s = context.s;
      s.selector.onSendSuccess();
      s.result = { kind: "ok", resp: s.resp };
    },
    returnRegionError: ({ context }) => {
      const s = context.s;
      s.result = {
        kind: "regionError",
        resp: s.resp ?? { regionError: s.regionError },
        regionError: s.regionError ?? noReplicaRegionError(),
      };
    },
    fail: ({ context }) => {
      const s = context.s;
      if (s.result) return;
      const d = s.decision;
      s.result = { kind: "error", error: d.kind === "fail" ? d.error : new Error("retry failed") };
    },
    abort: ({ context }, err: Error) => {
      const s = context.s;
      s.decision = { kind: "fail", error: err };
    },
  },
}).createMachine({
  id: "retry",
  context: ({ input }) => {
    const s = input.session;
    if (input.initial) {
      s.sendTimes++;
      s.resp = input.initial.resp;
      s.sendError = input.initial.error;
      s.regionError = input.initial.error
        ? undefined
        : (input.initial.resp as { regionError?: RegionErrorProto } | undefined)?.regionError;
    }
    return { s };
  },
  output: ({ context }) => context.s.result ?? { kind: "error", error: new AbortedError() },
  initial: "idle",
  on: {
    ABORT: { target: ".failed", actions: { type: "abort", params: ({ event }) => event.error } },
  },
  states: {
    idle: { on: { START: "start" } },
    start: { always: [{ guard: "hasInitial", target: "outcome" }, { target: "selecting" }] },
    selecting: {
      entry: "select",
      always: [
        { guard: "failed", target: "failed" },
        { guard: "noTarget", target: "noCandidate" },
        { guard: "needsSleep", target: "pendingBackoff" },
        { target: "sending" },
      ],
    },
    pendingBackoff: { after: { sleep: "sending" } },
    sending: {
      invoke: {
        src: "send",
        input: ({ context }) => context.s,
        onDone: {
          target: "outcome",
          actions: { type: "recordOutcome", params: ({ event }) => event.output },
        },
        onError: {
          target: "outcome",
          actions: { type: "recordOutcome", params: ({ event }) => ({ error: event.error as Error }) },
        },
      },
    },
    outcome: {
      always: [
        { guard: "isSendError", target: "sendFailed" },
        { guard: "isRegionError", target: "deciding" },
        { target: "succeeded" },
      ],
    },
    sendFailed: { entry: "decideSendFailure", always: [...sendFailureRoutes] },
    deciding: { entry: "decideRegionError", always: [...regionErrorRoutes] },
    backingOff: {
      after: {
        sleep: [{ guard: "sleepLeadsToRegionChanged", target: "regionChanged" }, { target: "selecting" }],
      },
    },
    updatingEpoch: {
      invoke: {
        src: "applyEpochNotMatch",
        input: ({ context }) => ({
          s: context.s,
          currentRegions:
            context.s.decision.kind === "epochNotMatch" ? context.s.decision.currentRegions : [],
        }),
        onDone: { target: "routing", actions: { type: "decideEpoch", params: ({ event }) => event.output } },
        onError: {
          target: "failed",
          actions: { type: "abort", params: ({ event }) => event.error as Error },
        },
      },
    },
    routing: { always: [...afterEpochRoutes] },
    noCandidate: {
      entry: "noCandidate",
      always: [
        { guard: "failed", target: "failed" },
        { guard: "needsSleep", target: "noCandidateWait" },
        { target: "regionChanged" },
      ],
    },
    noCandidateWait: { after: { sleep: "regionChanged" } },
    regionChanged: {
      entry: "prepareRelocate",
      always: [
        { guard: "failed", target: "failed" },
        { guard: "relocatable", target: "relocateWait" },
        { target: "returned" },
      ],
    },
    relocateWait: { after: { sleep: "relocating" } },
    relocating: {
      invoke: {
        src: "relocate",
        input: ({ context }) => context.s,
        onDone: { target: "selecting", actions: { type: "useRegion", params: ({ event }) => event.output } },
        onError: {
          target: "failed",
          actions: { type: "abort", params: ({ event }) => event.error as Error },
        },
      },
    },
    succeeded: { type: "final", entry: "succeed" },
    returned: { type: "final", entry: "returnRegionError" },
    failed: { type: "final", entry: "fail" },
  },
});

/** Creates an empty session (the request sender fills the I/O-facing fields). */
export function newRetrySession(
  init: Pick<
    RetrySession,
    "cache" | "selector" | "bo" | "isRead" | "rpcTimeoutMs" | "relocatable" | "newSelector"
  > &
    Partial<Pick<RetrySession, "onStoreNotMatch" | "deadline" | "applyOnce" | "readTimeoutShortMs">>,
): RetrySession {
  return {
    deadline: Number.POSITIVE_INFINITY,
    ...init,
    sendTimes: 0,
    relocations: 0,
    failedStores: new Set(),
    resp: undefined,
    regionError: undefined,
    sendError: undefined,
    decision: { kind: "retry" },
    sleepMs: 0,
    result: undefined,
  };
}

/** Short text for a region error (re-exported for logs). */
export { describeRegionError };
