// KvCommit. Semantics follow tikv src/storage/txn/commands/commit.rs.
import { type CommitRequest, CommitResponse, KeyError } from "../../../../proto/kvrpcpb.js";
import { toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { commit as commitKey } from "../actions/commit.js";
import { applyTxn, type EngineContext } from "../context.js";

/** KvCommit: all keys or nothing; commit_version must exceed start_version. */
export function commit(ec: EngineContext, req: CommitRequest): CommitResponse {
  if (req.commitVersion <= req.startVersion) {
    return CommitResponse.fromPartial({
      error: KeyError.fromPartial({
        abort: `Error(Txn(Error(InvalidTxnTso { start_ts: TimeStamp(${req.startVersion}), commit_ts: TimeStamp(${req.commitVersion}) })))`,
      }),
    });
  }
  const txn = new MvccTxn(req.startVersion);
  try {
    for (const key of req.keys) commitKey(txn, ec.reader, key, req.commitVersion, req.commitRole);
  } catch (e) {
    return CommitResponse.fromPartial({ error: toKeyError(e) });
  }
  applyTxn(ec, txn, { startTs: req.startVersion, commitTs: req.commitVersion });
  return CommitResponse.fromPartial({ commitVersion: req.commitVersion });
}
