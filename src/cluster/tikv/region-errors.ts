// errorpb.Error values shaped as TiKV builds them, messages included.
// Messages follow tikv components/raftstore/src/errors.rs (Display of raftstore::Error and its
// conversion to errorpb), src/storage/errors.rs (scheduler/gc busy) and
// components/engine_traits/src/errors.rs (NotInRange). Rust's Debug rendering of protobuf
// messages is reproduced by `debugPeer`/`debugEpoch`.
import { hexUpper } from "../../kv/key.js";

import { Error as RegionError } from "../../proto/errorpb.js";
import { type Peer, PeerRole, type Region, type RegionEpoch } from "../../proto/metapb.js";

type Id = number | bigint;
const big = (v: Id): bigint => BigInt(v);

/** rust-protobuf's Debug text of a metapb.Peer (zero/default fields omitted). */
export function debugPeer(p: Peer): string {
  const parts: string[] = [];
  if (p.id !== 0n) parts.push(`id: ${p.id}`);
  if (p.storeId !== 0n) parts.push(`store_id: ${p.storeId}`);
  if (p.role !== PeerRole.Voter) parts.push(`role: ${PeerRole[p.role]}`);
  if (p.isWitness) parts.push("is_witness: true");
  return parts.join(" ");
}

/** rust-protobuf's Debug text of a metapb.RegionEpoch. */
export function debugEpoch(e: RegionEpoch | undefined): string {
  if (!e) return "";
  const parts: string[] = [];
  if (e.confVer !== 0n) parts.push(`conf_ver: ${e.confVer}`);
  if (e.version !== 0n) parts.push(`version: ${e.version}`);
  return parts.join(" ");
}

/**
 * TiKV's ServerIsBusy reason when the txn scheduler rejects work (tikv storage/errors.rs: the
 * region error says "scheduler is busy"; "scheduler is too busy" is the storage error's text).
 */
export const SCHEDULER_IS_BUSY = "scheduler is busy";
/** TiKV's ServerIsBusy reason when the GC worker queue is full. */
export const GC_WORKER_IS_BUSY = "gc worker is busy";
/** TiKV's reason string when the raftstore channel is full. */
export const RAFTSTORE_IS_BUSY = "raftstore is busy";

/** Builders for every errorpb.Error kind, with TiKV's messages. */
export const RegionErrors = {
  notLeader(regionId: Id, leader?: Peer): RegionError {
    const hint = leader ? `Some(${debugPeer(leader)})` : "None";
    return RegionError.fromPartial({
      message: `peer is not leader for region ${regionId}, leader may ${hint}`,
      notLeader: leader ? { regionId: big(regionId), leader } : { regionId: big(regionId) },
    });
  },

  /**
   * RegionNotFound. `path` picks the message: reads are redirected by TiKV's local reader
   * ("region N is missing"), writes fail in the raft router ("region N not found").
   */
  regionNotFound(regionId: Id, path: "read" | "write" = "write"): RegionError {
    const message = path === "read" ? `region ${regionId} is missing` : `region ${regionId} not found`;
    return RegionError.fromPartial({ message, regionNotFound: { regionId: big(regionId) } });
  },

  storeNotMatch(requestStoreId: Id, actualStoreId: Id): RegionError {
    return RegionError.fromPartial({
      message: `to store id ${requestStoreId}, mine ${actualStoreId}`,
      storeNotMatch: { requestStoreId: big(requestStoreId), actualStoreId: big(actualStoreId) },
    });
  },

  epochNotMatch(
    regionId: Id,
    currentEpoch: RegionEpoch | undefined,
    sentEpoch: RegionEpoch | undefined,
    currentRegions: Region[],
  ): RegionError {
    return RegionError.fromPartial({
      message: `EpochNotMatch current epoch of region ${regionId} is ${debugEpoch(currentEpoch)}, but you sent ${debugEpoch(sentEpoch)}`,
      epochNotMatch: { currentRegions },
    });
  },

  /**
   * KeyNotInRegion. `path` picks the message: writes are rejected by raftstore's apply check,
   * reads by the region snapshot's range check (engine_traits NotInRange).
   */
  keyNotInRegion(key: Uint8Array, region: Region, path: "read" | "write" = "write"): RegionError {
    const k = hexUpper(key);
    const s = hexUpper(region.startKey);
    const e = hexUpper(region.endKey);
    const message =
      path === "write"
        ? `key ${k} is not in region key range [${s}, ${e}) for region ${region.id}`
        : `Key ${k} is out of [region ${region.id}] [${s}, ${e})`;
    return RegionError.fromPartial({
      message,
      keyNotInRegion: {
        key: Buffer.from(key),
        regionId: region.id,
        startKey: region.startKey,
        endKey: region.endKey,
      },
    });
  },

  /**
   * ServerIsBusy. Raftstore's (reason "raftstore is busy") carries the message of the error it
   * comes from, a full raft channel: "Discard due to Full" (raftstore errors.rs); the storage's
   * busy errors carry none.
   */
  serverIsBusy(reason: string = SCHEDULER_IS_BUSY, backoffMs: Id = 0, estimatedWaitMs = 0): RegionError {
    return RegionError.fromPartial({
      message: reason === RAFTSTORE_IS_BUSY ? "Discard due to Full" : "",
      serverIsBusy: { reason, backoffMs: big(backoffMs), estimatedWaitMs },
    });
  },

  /** The read pool's answer when its estimated wait exceeds context.busy_threshold_ms. */
  readPoolBusy(estimatedWaitMs: number): RegionError {
    return RegionError.fromPartial({
      serverIsBusy: {
        reason: "estimated wait time exceeds threshold",
        estimatedWaitMs: Math.min(Math.max(0, Math.floor(estimatedWaitMs)), 0xffffffff),
      },
    });
  },

  staleCommand(): RegionError {
    return RegionError.fromPartial({ message: "stale command", staleCommand: {} });
  },

  raftEntryTooLarge(regionId: Id, entrySize: Id): RegionError {
    return RegionError.fromPartial({
      message: `raft entry is too large, region ${regionId}, entry size ${entrySize}`,
      raftEntryTooLarge: { regionId: big(regionId), entrySize: big(entrySize) },
    });
  },

  /** As storage reports it for txn commands (message left empty, like TiKV). */
  maxTimestampNotSynced(): RegionError {
    return RegionError.fromPartial({ maxTimestampNotSynced: {} });
  },

  /** As storage reports it for API V2 raw writes before the causal ts is flushed. */
  rawKvMaxTimestampNotSynced(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `RawKV write fails due to potentially stale max timestamp, region_id: ${regionId}`,
      maxTimestampNotSynced: {},
    });
  },

  readIndexNotReady(regionId: Id, reason = "can not read index due to split"): RegionError {
    return RegionError.fromPartial({
      message: `read index not ready, reason ${reason}, region ${regionId}`,
      readIndexNotReady: { reason, regionId: big(regionId) },
    });
  },

  proposalInMergingMode(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `${regionId} peer in merging mode, can't do proposal`,
      proposalInMergingMode: { regionId: big(regionId) },
    });
  },

  dataIsNotReady(regionId: Id, peerId: Id, safeTs: Id): RegionError {
    return RegionError.fromPartial({
      message: `peer ${peerId} is not ready, safe_ts ${safeTs}, region ${regionId}`,
      dataIsNotReady: { regionId: big(regionId), peerId: big(peerId), safeTs: big(safeTs) },
    });
  },

  regionNotInitialized(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `region ${regionId} not initialized yet`,
      regionNotInitialized: { regionId: big(regionId) },
    });
  },

  diskFull(storeIds: Id[], reason: string): RegionError {
    const ids = storeIds.map(big);
    return RegionError.fromPartial({
      message: `store ids [${ids.join(", ")}], errmsg ${reason}`,
      diskFull: { storeId: ids, reason },
    });
  },

  recoveryInProgress(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `region ${regionId} is in the recovery progress`,
      RecoveryInProgress: { regionId: big(regionId) },
    });
  },

  flashbackInProgress(regionId: Id, flashbackStartTs: Id): RegionError {
    return RegionError.fromPartial({
      message: `region ${regionId} is in the flashback progress with start_ts ${flashbackStartTs}`,
      FlashbackInProgress: { regionId: big(regionId), flashbackStartTs: big(flashbackStartTs) },
    });
  },

  flashbackNotPrepared(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `region ${regionId} not prepared the flashback`,
      FlashbackNotPrepared: { regionId: big(regionId) },
    });
  },

  isWitness(regionId: Id): RegionError {
    return RegionError.fromPartial({
      message: `peer is a witness of region ${regionId}`,
      isWitness: { regionId: big(regionId) },
    });
  },

  mismatchPeerId(requestPeerId: Id, storePeerId: Id): RegionError {
    return RegionError.fromPartial({
      message: `mismatch peer id ${requestPeerId} != ${storePeerId}`,
      mismatchPeerId: { requestPeerId: big(requestPeerId), storePeerId: big(storePeerId) },
    });
  },

  bucketVersionNotMatch(version: Id, keys: Buffer[] = []): RegionError {
    return RegionError.fromPartial({
      message: "bucket version not match",
      bucketVersionNotMatch: { version: big(version), keys },
    });
  },

  /** A request without region_epoch (raftstore's `box_err!("missing epoch!")`). */
  missingEpoch(): RegionError {
    return RegionError.fromPartial({ message: "missing epoch!" });
  },

  undeterminedResult(message: string): RegionError {
    return RegionError.fromPartial({ message, undeterminedResult: { message } });
  },
} as const;
