// BroadcastTxnStatus to every TiKV store (client-go 2pc.go broadcastToAllStores): the stores'
// transaction status caches learn that a pipelined transaction is ongoing with a min commit ts,
// committed or rolled back, so readers meeting its locks need not ask the primary. Best effort:
// at most 10 stores at a time, 5 s per store, failures ignored.

import { BroadcastTxnStatusRequest, type TxnStatus } from "../../../proto/kvrpcpb.js";
import type { Store } from "../../../proto/metapb.js";
import { StoreState } from "../../../proto/metapb.js";
import type { PdActor } from "../../pd/pd-actor.js";
import type { StorePool } from "../../store/store-pool.js";
import { Limiter } from "./limiter.js";

/** client-go broadcastMaxConcurrency. */
export const BROADCAST_MAX_CONCURRENCY = 10;
/** client-go broadcastRpcTimeout (ms). */
export const BROADCAST_TIMEOUT_MS = 5_000;

/** What a broadcast needs from the client. */
export interface BroadcastDeps {
  pd: Pick<PdActor, "getAllStores" | "cachedStores">;
  stores: Pick<StorePool, "get">;
}

// TiKV stores that can take requests (TiFlash does not keep the status cache)
function isTikv(s: Store): boolean {
  if (s.address === "" || s.state === StoreState.Tombstone) return false;
  return !s.labels.some((l) => l.key === "engine" && l.value.startsWith("tiflash"));
}

/** Sends `status` to every store; resolves with how many answered. Never rejects. */
export async function broadcastTxnStatus(deps: BroadcastDeps, status: TxnStatus): Promise<number> {
  let stores: Store[];
  try {
    stores = await deps.pd.getAllStores({ timeoutMs: BROADCAST_TIMEOUT_MS });
  } catch {
    stores = deps.pd.cachedStores();
  }
  const targets = stores.filter(isTikv);
  const limiter = new Limiter(Math.min(BROADCAST_MAX_CONCURRENCY, Math.max(1, targets.length)));
  const req = BroadcastTxnStatusRequest.fromPartial({ txnStatus: [status] });
  let ok = 0;
  await Promise.all(
    targets.map((s) =>
      limiter.run(async () => {
        try {
          await deps.stores.get(Number(s.id), s.address).send("BroadcastTxnStatus", req, {
            timeoutMs: BROADCAST_TIMEOUT_MS,
          });
          ok++;
        } catch {
          // best effort (client-go logs and goes on)
        }
      }),
    ),
  );
  return ok;
}
