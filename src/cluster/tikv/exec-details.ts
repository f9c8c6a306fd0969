// exec_details_v2 of the mock store's responses (tikv components/tracker: every KV read and
// write reports its time detail, reads their scan detail). The mock measures its own execution
// and counts what it read: processed versions are the values it returned, total versions the
// versions it met, which for this engine's point reads are the same (it reads the newest visible
// version of each key and nothing else); no RocksDB is involved, so those counters stay 0.
import * as kv from "../../proto/kvrpcpb.js";

/** What one read returned: values and their key + value bytes. */
export interface ReadCounts {
  versions: number;
  bytes: number;
}

/** The counts of a KvGet answer. */
export function getCounts(req: kv.GetRequest, resp: kv.GetResponse): ReadCounts {
  if (resp.notFound || resp.error || resp.regionError) return { versions: 0, bytes: 0 };
  return { versions: 1, bytes: req.key.length + resp.value.length };
}

/** The counts of a KvBatchGet answer. */
export function batchGetCounts(_req: kv.BatchGetRequest, resp: kv.BatchGetResponse): ReadCounts {
  let versions = 0;
  let bytes = 0;
  for (const p of resp.pairs) {
    if (p.error) continue;
    versions++;
    bytes += p.key.length + p.value.length;
  }
  return { versions, bytes };
}

const nanos = (ms: number) => BigInt(Math.max(0, Math.round(ms * 1e6)));

/**
 * Adds exec_details_v2 to `resp` (keeping what the engine already put there, e.g. a lock wait):
 * the execution time since `t0` (performance.now) as process / total wall time (and KV read
 * time for reads), and the scan detail of `counts` for reads.
 */
export function fillExecDetails<Resp>(resp: Resp, t0: number, counts: ReadCounts | undefined): Resp {
  const r = resp as { execDetailsV2?: kv.ExecDetailsV2; regionError?: unknown };
  if (r.regionError) return resp;
  const ms = performance.now() - t0;
  const d = kv.ExecDetailsV2.fromPartial(r.execDetailsV2 ?? {});
  d.timeDetailV2 = kv.TimeDetailV2.fromPartial({
    processWallTimeNs: nanos(ms),
    kvReadWallTimeNs: counts ? nanos(ms) : 0n,
    totalRpcWallTimeNs: nanos(ms),
  });
  d.timeDetail = kv.TimeDetail.fromPartial({
    processWallTimeMs: BigInt(Math.floor(ms)),
    kvReadWallTimeMs: counts ? BigInt(Math.floor(ms)) : 0n,
    totalRpcWallTimeNs: nanos(ms),
  });
  if (counts) {
    d.scanDetailV2 = kv.ScanDetailV2.fromPartial({
      processedVersions: BigInt(counts.versions),
      totalVersions: BigInt(counts.versions),
      processedVersionsSize: BigInt(counts.bytes),
    });
  }
  r.execDetailsV2 = d;
  return resp;
}
