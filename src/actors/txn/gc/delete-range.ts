// Transactional delete range (client-go txnkv/rangetask/delete_range.go): a DeleteRange to every
// region of [start, end), region by region through the range task engine. It removes every MVCC
// version of every key at once (no transaction, no snapshot isolation); `notifyOnly` only
// replicates the request through raft (TiKV deletes nothing), the step before UnsafeDestroyRange.

import { UnknownError } from "../../../errors/server.js";
import type { KeyRange } from "../../../kv/key.js";
import { DeleteRangeRequest } from "../../../proto/kvrpcpb.js";
import {
  type RangeTaskOptions,
  type RangeTaskRegions,
  type RangeTaskStat,
  runRangeTask,
  walkRegions,
} from "../../runtime/range-task.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";

/** client-go deleteRangeOneRegionMaxBackoff (ms). */
export const DELETE_RANGE_MAX_BACKOFF_MS = 100_000;

/** What a delete range needs. */
export interface DeleteRangeDeps {
  sender: RawRequestSender;
  regions: RangeTaskRegions;
  /** A fresh control block (one region's backoff budget). */
  control: (signal: AbortSignal) => RequestControl;
}

/**
 * Deletes (or with `notifyOnly`, announces the deletion of) `range` in every region; resolves
 * with the number of regions done.
 */
export async function deleteRange(
  deps: DeleteRangeDeps,
  range: KeyRange,
  notifyOnly: boolean,
  opts: RangeTaskOptions,
): Promise<RangeTaskStat> {
  return runRangeTask(
    deps.regions,
    range,
    (task, { signal }) => deleteInTask(deps, task, notifyOnly, signal),
    opts,
  );
}

async function deleteInTask(
  deps: DeleteRangeDeps,
  task: KeyRange,
  notifyOnly: boolean,
  signal: AbortSignal,
): Promise<RangeTaskStat> {
  let ctl = deps.control(signal);
  const completed = await walkRegions(
    (key, c) => deps.sender.locate(key, c),
    task,
    ctl,
    async ({ region, range }) => {
      const req = DeleteRangeRequest.fromPartial({ startKey: range.start, endKey: range.end, notifyOnly });
      const out = await deps.sender.sendOnce(region, "DeleteRange", req, ctl);
      if (!out.resp) return "relocate";
      if (out.resp.error) throw new UnknownError(`unexpected delete range error: ${out.resp.error}`);
      ctl = deps.control(signal);
      return "next";
    },
    signal,
  );
  return { completedRegions: completed, failedRegions: 0 };
}
