// Disk-full admission of writes and follower reads, as TiKV's raftstore decides it
// (components/raftstore/src/store/peer.rs check_normal_proposal_with_disk_full_opt and the
// follower read-index path).
import type { Error as RegionError } from "../../proto/errorpb.js";
import { DiskFullOpt } from "../../proto/kvrpcpb.js";
import type { Peer, Region } from "../../proto/metapb.js";
import { RegionErrors } from "./region-errors.js";

/** A store's disk state (TiKV DiskUsage). */
export type DiskUsage = "normal" | "almostFull" | "alreadyFull";

const USAGE_DEBUG: Record<DiskUsage, string> = {
  normal: "Normal",
  almostFull: "AlmostFull",
  alreadyFull: "AlreadyFull",
};

function optDebug(o: DiskFullOpt): string {
  return o === DiskFullOpt.AllowedOnAlmostFull
    ? "AllowedOnAlmostFull"
    : o === DiskFullOpt.AllowedOnAlreadyFull
      ? "AllowedOnAlreadyFull"
      : "NotAllowedOnFull";
}

/** Whether the leader on `self` may propose a write, given the stores' disk usage. */
export function checkWriteDiskUsage(
  usageOf: (storeId: bigint) => DiskUsage,
  region: Region,
  self: Peer,
  opt: DiskFullOpt,
): RegionError | undefined {
  const mine = usageOf(self.storeId);
  const allowed = mine === "normal" || (mine === "almostFull" && opt !== DiskFullOpt.NotAllowedOnFull);
  const msg = `propose failed: tikv disk full, cmd diskFullOpt=${optDebug(opt)}, leader diskUsage=${USAGE_DEBUG[mine]}`;
  if (!allowed) return RegionErrors.diskFull([self.storeId], msg);
  // Followers: a majority of the group out of space blocks writes unless the request allows
  // almost-full disks and one of them is only almost full.
  const full = region.peers.filter((p) => p.id !== self.id && usageOf(p.storeId) !== "normal");
  if (full.length === 0) return undefined;
  const majority = full.length * 2 > region.peers.length;
  if (!majority) return undefined;
  if (opt === DiskFullOpt.AllowedOnAlmostFull && full.some((p) => usageOf(p.storeId) === "almostFull"))
    return undefined;
  return RegionErrors.diskFull(
    full.map((p) => p.storeId),
    msg,
  );
}

/** A follower refuses replica reads while its own disk is not normal. */
export function checkFollowerReadDiskUsage(usage: DiskUsage, storeId: bigint): RegionError | undefined {
  if (usage === "normal") return undefined;
  return RegionErrors.diskFull([storeId], "reject follower read request when self disk is full");
}
