// The commit of a pipelined transaction (client-go pipelined_flush.go commitFlushedMutations):
// the primary key alone is committed; once it is, the transaction is committed.

import { extractKeyError } from "../../../errors/extract.js";
import { ResultUndeterminedError } from "../../../errors/txn.js";
import type { PipelinedEvent } from "../../../machines/pipelined-flush.js";
import { CommitRequest, CommitRole, type Context } from "../../../proto/kvrpcpb.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import { writeFailure } from "../../runtime/undetermined.js";

/** Commits `primary` of `startTs` at `commitTs`; the outcome as the machine's event. */
export async function commitPrimary(
  sender: RawRequestSender,
  p: { startTs: bigint; commitTs: bigint; primary: Buffer; contextFields: Partial<Context> | undefined },
  ctl: RequestControl,
): Promise<PipelinedEvent> {
  const req = CommitRequest.fromPartial({
    startVersion: p.startTs,
    keys: [p.primary],
    commitVersion: p.commitTs,
    primaryKey: p.primary,
    commitRole: CommitRole.Primary,
  });
  try {
    for (;;) {
      let region = sender.locate(p.primary, ctl);
      if (region instanceof Promise) region = await region;
      const { resp } = await sender.sendOnce(region, "Commit", req, ctl, p.contextFields);
      if (!resp) continue;
      const ke = resp.error;
      if (!ke) return { type: "PRIMARY_COMMITTED" };
      if (ke.commitTsExpired)
        return { type: "COMMIT_TS_EXPIRED", minCommitTs: ke.commitTsExpired.minCommitTs };
      return { type: "PRIMARY_FAILED", error: extractKeyError(ke) };
    }
  } catch (e) {
    // sent and not answered: the primary may be committed
    const err = writeFailure(e, ctl);
    if (err instanceof ResultUndeterminedError) return { type: "PRIMARY_UNDETERMINED", error: err };
    return { type: "PRIMARY_FAILED", error: err instanceof Error ? err : new Error(String(err)) };
  }
}
