// UnsafeDestroyRange (client-go tikv/gc.go KVStore.UnsafeDestroyRange): every up TiKV store
// (tombstones and TiFlash skipped) deletes the range's data directly from its engine, bypassing
// raft and MVCC. Sent to all stores at once; any store failing fails the call, naming each one.

import { UnknownError } from "../../../errors/server.js";
import type { ApiCodec } from "../../../kv/api-codec.js";
import type { KeyRange } from "../../../kv/key.js";
import { encodeRequest } from "../../../kv/request-codec.js";
import { Context, UnsafeDestroyRangeRequest } from "../../../proto/kvrpcpb.js";
import { type Store, StoreState } from "../../../proto/metapb.js";
import type { PdActor } from "../../pd/pd-actor.js";
import type { StorePool } from "../../store/store-pool.js";

/** client-go unsafeDestroyRangeTimeout (ms). */
export const UNSAFE_DESTROY_RANGE_TIMEOUT_MS = 5 * 60_000;

/** What it needs. */
export interface UnsafeDestroyDeps {
  pd: Pick<PdActor, "getAllStores">;
  stores: Pick<StorePool, "get">;
  /** The key codec of the range (keyspace prefix in API v2). */
  codec: ApiCodec;
}

// client-go listStoresForUnsafeDestroy: not tombstone, not TiFlash
function isUpTikv(s: Store): boolean {
  if (s.state === StoreState.Tombstone || s.address === "") return false;
  return !s.labels.some((l) => l.key === "engine" && l.value.startsWith("tiflash"));
}

/** Destroys `range` (user keys) on every up store; resolves with the ids of the stores that did it. */
export async function unsafeDestroyRange(
  deps: UnsafeDestroyDeps,
  range: KeyRange,
  signal?: AbortSignal,
): Promise<bigint[]> {
  const stores = (await deps.pd.getAllStores(signal ? { signal } : undefined)).filter(isUpTikv);
  // TiKV encodes the bounds itself (Key::from_raw): only the keyspace prefix is the client's
  const context = Context.fromPartial({});
  deps.codec.applyToContext(context);
  const req = encodeRequest(
    deps.codec,
    "UnsafeDestroyRange",
    UnsafeDestroyRangeRequest.fromPartial({ context, startKey: range.start, endKey: range.end }),
  );
  const results = await Promise.allSettled(
    stores.map(async (s) => {
      const resp = await deps.stores
        .get(Number(s.id), s.address)
        .send("UnsafeDestroyRange", req, { timeoutMs: UNSAFE_DESTROY_RANGE_TIMEOUT_MS, signal });
      if (resp.regionError) throw new UnknownError(`store ${s.id}: ${JSON.stringify(resp.regionError)}`);
      if (resp.error) throw new UnknownError(`store ${s.id}: ${resp.error}`);
      return s.id;
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === "rejected"
      ? [`store ${stores[i]?.id}: ${String((r.reason as Error)?.message ?? r.reason)}`]
      : [],
  );
  if (failed.length > 0) {
    const first = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    throw new UnknownError(`unsafe destroy range finished with errors: ${failed.join("; ")}`, {
      cause: first.reason,
    });
  }
  return stores.map((s) => s.id);
}
