// The answers the committer replays on the embedded cluster inject into a primary commit:
// TiKV's CommitTsExpired, a primary rolled back meanwhile (a real TxnLockNotFound follows), and a
// lost outcome. Shared by committer.cluster and pipelined.cluster.

import type { FaultError } from "../../src/cluster/faults/types.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import { BatchRollbackRequest } from "../../src/proto/kvrpcpb.js";
import type { ClusterHandle } from "../support/cluster.js";

/** TiKV's answer when a reader pushed the primary's min_commit_ts past the attempted commit ts. */
export function commitTsExpired(
  startTs: bigint,
  attempted: bigint,
  primary: Buffer,
  minCommitTs: bigint,
): FaultError {
  return {
    keyError: { commitTsExpired: { startTs, attemptedCommitTs: attempted, key: primary, minCommitTs } },
  };
}

/** Someone rolls the primary back before its commit arrives (the commit then finds no lock). */
export function rollBackPrimary(env: ClusterHandle, startTs: bigint, primary: Buffer): undefined {
  env.cluster.txnEngine.batchRollback(
    BatchRollbackRequest.fromPartial({ startVersion: startTs, keys: [primary] }),
  );
  return undefined;
}

/** The commit's outcome is lost (TiKV's UndeterminedResult region error). */
export const commitOutcomeLost = (): FaultError => ({
  regionError: RegionErrors.undeterminedResult("injected: commit outcome lost"),
});
