// What raftstore checks when it proposes and applies a write, after the region checks passed:
// the raft entry size limit at propose (tikv components/raftstore/src/store/peer.rs propose_normal,
// `raft-entry-max-size`) and the delete-range bounds at apply (tikv
// components/raftstore/src/store/fsm/apply.rs handle_delete_range).
import { encodeBytes } from "../../kv/memcomparable.js";
import type { Error as RegionError } from "../../proto/errorpb.js";
import type { Region } from "../../proto/metapb.js";
import { rustDebugStr } from "../engine/raw/raw-errors.js";
import type { RegionKeyForm } from "./region-check.js";
import { RegionErrors } from "./region-errors.js";

/** TiKV's default `raftstore.raft-entry-max-size` (8 MiB). */
export const DEFAULT_RAFT_ENTRY_MAX_SIZE = 8 * 1024 * 1024;

/** RaftEntryTooLarge when a write's estimated entry exceeds `maxSize`, else undefined. */
export function checkEntrySize(
  regionId: bigint,
  entrySize: number,
  maxSize: number,
): RegionError | undefined {
  return entrySize > maxSize ? RegionErrors.raftEntryTooLarge(regionId, entrySize) : undefined;
}

/**
 * How a delete range's keys reach raftstore:
 * - "encoded": memcomparable-encoded (txn keys, and raw keys under API V2). An empty key is
 *   then the encoded empty key, the smallest key, not "unbounded";
 * - "plain": as sent (raw keys under API V1/V1TTL); an empty end key is unbounded.
 */
export type DeleteRangeKeys = "encoded" | "plain";

/** Rust's `{:?}` of a byte slice. */
function debugBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(", ")}]`;
}

function inRegion(key: Buffer, r: Region): boolean {
  return Buffer.compare(key, r.startKey) >= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0);
}

/**
 * The apply-time checks of a delete range over [start, end) (keys as sent) on `region`
 * (boundaries in stored form), in raftstore's order: an inverted range is an "invalid delete
 * range command" (a region error with only a message: raftstore's Error::Other renders with
 * `{:?}`, hence the quotes); then the start key must be in the region; then the end key must
 * not pass the region end (equal is fine). Keys are compared, and reported, in `form`.
 */
export function checkDeleteRange(
  start: Buffer,
  end: Buffer,
  region: Region,
  keys: DeleteRangeKeys,
  form: RegionKeyForm,
): RegionError | undefined {
  // An encoded key is never empty, so the inverted-range test always applies to it.
  const endUnbounded = keys === "plain" && end.length === 0;
  if (!endUnbounded && (end.length === 0 || Buffer.compare(start, end) >= 0)) {
    const render = (k: Buffer) => debugBytes(keys === "encoded" ? encodeBytes(k) : k);
    return {
      message: rustDebugStr(
        `invalid delete range command, start_key: ${render(start)}, end_key: ${render(end)}`,
      ),
    };
  }
  const s = form.key(start);
  if (!inRegion(s, region)) return RegionErrors.keyNotInRegion(s, region, "write");
  const e = form.key(end);
  const regionEnd = region.endKey;
  const past = regionEnd.length > 0 && (endUnbounded || Buffer.compare(e, regionEnd) > 0);
  if (past) return RegionErrors.keyNotInRegion(e, region, "write");
  return undefined;
}
