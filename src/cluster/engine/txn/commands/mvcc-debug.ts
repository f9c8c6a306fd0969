// KvMvccGetByKey / KvMvccGetByStartTs. Semantics follow tikv src/storage/txn/actions/mvcc.rs
// (find_mvcc_infos_by_key), src/storage/types.rs (MvccInfo::into_proto) and
// src/storage/txn/commands/mvcc_by_start_ts.rs.
import {
  type MvccGetByKeyRequest,
  MvccGetByKeyResponse,
  type MvccGetByStartTsRequest,
  MvccGetByStartTsResponse,
  MvccInfo,
} from "../../../../proto/kvrpcpb.js";
import { rawKey } from "../../mvcc/key.js";
import { mvccInfoOf } from "../../mvcc/mvcc-info.js";
import type { EngineContext } from "../context.js";

/** KvMvccGetByKey. */
export function mvccGetByKey(ec: EngineContext, req: MvccGetByKeyRequest): MvccGetByKeyResponse {
  return MvccGetByKeyResponse.fromPartial({ info: mvccInfoOf(ec.reader, req.key) });
}

/** KvMvccGetByStartTs: the first key (in key order) having a write record of that start_ts. */
export function mvccGetByStartTs(ec: EngineContext, req: MvccGetByStartTsRequest): MvccGetByStartTsResponse {
  for (const [sk, versions] of ec.store.writeCf.entries()) {
    if (versions.some((v) => v.write.startTs === req.startTs)) {
      const key = rawKey(sk);
      return MvccGetByStartTsResponse.fromPartial({ key, info: mvccInfoOf(ec.reader, key) });
    }
  }
  return MvccGetByStartTsResponse.fromPartial({ info: MvccInfo.fromPartial({}) });
}
