// Sends one TiKV request to the leader of a cached region and handles what comes back: region
// errors are classified once and turned into cache updates and backoffs, transport failures into
// a peer switch. Callers loop on "retry" (re-locating / re-splitting their keys), as client-go's
// rawkv does around RegionRequestSender.SendReq (internal/locate/region_request.go onRegionError,
// onSendFail). The fast path is: cached region -> resolved store -> one store-actor send.

import {
  RegionError,
  RegionFlashbackInProgressError,
  RegionFlashbackNotPreparedError,
  regionErrorKind,
  ShuttingDownError,
  TimeoutError,
} from "../../api/errors/server.js";
import { ResultUndeterminedError } from "../../api/errors/txn.js";
import type { ApiCodec } from "../../kv/api-codec.js";
import { decodeResponse, encodeRequest } from "../../kv/request-codec.js";
import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import { Context } from "../../proto/kvrpcpb.js";
import { GrpcError } from "../../rpc/errors.js";
import type { TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { type BackoffConfig, Bo } from "../backoff/backoff-config.js";
import type { Backoffer } from "../backoff/backoffer.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import type { StorePool } from "../store/store-pool.js";
import type { ClientMetrics } from "./metrics.js";

/** The raw commands this sender carries (names shared by the transport and the key codec). */
export type RawCommand =
  | "RawGet"
  | "RawBatchGet"
  | "RawPut"
  | "RawBatchPut"
  | "RawDelete"
  | "RawBatchDelete"
  | "RawDeleteRange"
  | "RawScan"
  | "RawBatchScan"
  | "RawGetKeyTTL"
  | "RawCompareAndSwap"
  | "RawChecksum";

/** The retry budget and deadline of one user call; shared by every RPC the call makes. */
export interface RequestControl {
  /** Backoff budget (carries the caller's AbortSignal). */
  bo: Backoffer;
  /** Absolute deadline in ms since the epoch; 0 = none. */
  deadline: number;
  /** The user's timeout in ms (for error messages); 0 = none. */
  timeoutMs: number;
  /** The caller's abort signal. */
  signal: AbortSignal | undefined;
}

/** Outcome of {@link RegionSender.sendOnce}: the response, or "the caller must re-locate and retry". */
export type SendOutcome<C extends RawCommand> = { resp: TikvResponse<C> } | { resp: undefined };

const RETRY = { resp: undefined } as const;

/** Region-aware request sender of one client. */
export class RegionSender {
  private readonly baseContext: Context;

  constructor(
    readonly cache: RegionCache,
    private readonly stores: StorePool,
    readonly codec: ApiCodec,
    readonly metrics: ClientMetrics,
  ) {
    const ctx = Context.fromPartial({});
    codec.applyToContext(ctx);
    this.baseContext = ctx;
  }

  /** Locates the region of `key` (cache first, PD on a miss); `endKey` locates an exclusive end (reverse scans). */
  locate(key: Buffer, ctl: RequestControl, endKey = false): Promise<CachedRegion> | CachedRegion {
    if (!endKey) {
      const hit = this.cache.tryLocateKey(key);
      if (hit) return hit;
      return this.cache.locateKey(key, ctl.bo);
    }
    return this.cache.locateEndKey(key, ctl.bo);
  }

  /**
   * Sends `req` (user keys; encoded here) to `region`'s leader. Resolves with the decoded response,
   * or with `{ resp: undefined }` after a region error / send failure was handled (cache updated,
   * backoff slept): the caller re-locates its keys and tries again.
   */
  async sendOnce<C extends RawCommand>(
    region: CachedRegion,
    cmd: C,
    req: TikvRequest<C>,
    ctl: RequestControl,
  ): Promise<SendOutcome<C>> {
    const peer = region.leader;
    const storeId = peer.storeId;
    let store = this.cache.stores.peek(storeId);
    if (!store || store.resolve !== "resolved") store = await this.cache.stores.resolve(storeId);
    if (store.resolve === "tombstone" || store.address === "") {
      this.cache.invalidate(region, "storeNotFound");
      await this.backoff(
        ctl,
        Bo.RegionMiss,
        new RegionError({ message: `store ${storeId} is gone` } as RegionErrorProto),
      );
      return RETRY;
    }
    const context: Context = {
      ...this.baseContext,
      regionId: region.id,
      regionEpoch: region.meta.regionEpoch,
      peer,
    };
    const wire = encodeRequest(this.codec, cmd, { ...req, context } as never) as TikvRequest<C>;
    let timeoutMs: number | undefined;
    if (ctl.deadline > 0) {
      timeoutMs = ctl.deadline - Date.now();
      if (timeoutMs <= 0) throw new TimeoutError(cmd, ctl.timeoutMs);
    }
    this.metrics.countSend(storeId);
    let resp: TikvResponse<C>;
    try {
      resp = await this.stores
        .get(Number(storeId), store.address)
        .send(cmd, wire, { timeoutMs, signal: ctl.signal });
    } catch (err) {
      if (!(err instanceof GrpcError) && !(err instanceof ShuttingDownError)) throw err;
      if (ctl.signal?.aborted) throw err;
      await this.onSendFailure(region, storeId, err, ctl);
      return RETRY;
    }
    decodeResponse(this.codec, cmd as never, resp as never);
    const regionError = (resp as { regionError?: RegionErrorProto }).regionError;
    if (regionError) {
      await this.onRegionError(region, storeId, regionError, ctl);
      return RETRY;
    }
    this.cache.stores.setLiveness(storeId, "reachable");
    return { resp };
  }

  // client-go onSendFail: the store may be down; try the next peer (it answers NotLeader with a
  // hint if it is not the leader) and reload the region on next access.
  private async onSendFailure(region: CachedRegion, storeId: bigint, err: Error, ctl: RequestControl) {
    this.metrics.sendFailures++;
    this.metrics.retries++;
    this.cache.stores.onSendFailure(storeId);
    if (region.peers.length > 1) region.leaderIdx = (region.leaderIdx + 1) % region.peers.length;
    this.cache.scheduleReload(region);
    await this.backoff(ctl, Bo.TiKVRPC, err);
  }

  // client-go RegionRequestSender.onRegionError, reduced to what leader reads/writes need.
  private async onRegionError(
    region: CachedRegion,
    storeId: bigint,
    e: RegionErrorProto,
    ctl: RequestControl,
  ) {
    const kind = regionErrorKind(e);
    this.metrics.countRegionError(kind);
    this.metrics.retries++;
    const err = new RegionError(e, region.id);
    if (e.notLeader) {
      const leader = e.notLeader.leader;
      const current = region.leader;
      if (leader && leader.id !== 0n && !(leader.id === current.id && leader.storeId === current.storeId)) {
        // a fresh leader hint: retry there at once
        this.cache.updateLeader(region, leader);
        return;
      }
      // no leader (election in progress) or the hint is the peer we just asked
      this.cache.updateLeader(region, undefined);
      await this.backoff(ctl, Bo.RegionScheduling, err);
      return;
    }
    if (e.epochNotMatch) {
      const outcome = await this.cache.onEpochNotMatch(region, e.epochNotMatch.currentRegions, storeId);
      if (outcome === "aheadOfTikv") await this.backoff(ctl, Bo.RegionMiss, err);
      return;
    }
    if (e.storeNotMatch) {
      this.cache.stores.markNeedCheck(storeId);
      this.cache.invalidate(region, "storeNotFound");
      return;
    }
    if (e.regionNotFound) {
      this.cache.invalidate(region, "regionNotFound");
      return;
    }
    if (e.keyNotInRegion || e.mismatchPeerId) {
      this.cache.invalidate(region, "other");
      return;
    }
    if (e.bucketVersionNotMatch) return;
    if (e.serverIsBusy) return this.backoff(ctl, Bo.TiKVServerBusy, err);
    if (e.staleCommand) return this.backoff(ctl, Bo.StaleCmd, err);
    if (e.maxTimestampNotSynced) return this.backoff(ctl, Bo.MaxTsNotSynced, err);
    if (e.readIndexNotReady || e.proposalInMergingMode) return this.backoff(ctl, Bo.RegionScheduling, err);
    if (e.regionNotInitialized) return this.backoff(ctl, Bo.MaxRegionNotInitialized, err);
    if (e.diskFull) return this.backoff(ctl, Bo.TiKVDiskFull, err);
    if (e.RecoveryInProgress) return this.backoff(ctl, Bo.RegionRecoveryInProgress, err);
    if (e.isWitness) {
      this.cache.invalidate(region, "other");
      return this.backoff(ctl, Bo.IsWitness, err);
    }
    if (e.dataIsNotReady) return this.backoff(ctl, Bo.RegionMiss, err);
    if (e.raftEntryTooLarge) throw err;
    if (e.FlashbackInProgress) throw new RegionFlashbackInProgressError(undefined, { cause: err });
    if (e.FlashbackNotPrepared) throw new RegionFlashbackNotPreparedError(undefined, { cause: err });
    if (e.undeterminedResult) throw new ResultUndeterminedError({ cause: err });
    // anything else: the cached region is suspect (client-go: invalidate + BoRegionMiss)
    this.cache.invalidate(region, "other");
    await this.backoff(ctl, Bo.RegionMiss, err);
  }

  /** Accounts one backoff (counted in metrics) and sleeps, honouring the call's deadline and signal. */
  async backoff(ctl: RequestControl, cfg: BackoffConfig, err: unknown): Promise<void> {
    this.metrics.countBackoff(cfg.name);
    const ms = ctl.bo.next(cfg, err);
    if (ctl.deadline > 0 && Date.now() + ms >= ctl.deadline) {
      throw new TimeoutError("raw request", ctl.timeoutMs, { cause: err });
    }
    if (ms > 0) await ctl.bo.sleep(ms);
  }
}
