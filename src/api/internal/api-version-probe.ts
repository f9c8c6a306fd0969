// Connect-time check that the cluster serves the client's API version. TiKV rejects a raw
// request whose context.api_version does not fit its storage.api-version (ApiVersionNotMatched:
// V1/V1TTL storage takes V1 requests, V2 storage takes V2 raw requests), but only when a request
// arrives; client-go does not check at connect. Here connect sends one RawGet of a probe key
// (a read: no side effect) straight to the leader of the key's region, outside the client's
// routing, metrics and interceptors, and turns a mismatch into ApiVersionMismatchError naming
// both versions. Anything else (no region or store yet, a region error, a timeout) is
// inconclusive and ignored: the cluster may still be starting, and calls report their own errors.
// (RawGetKeyTTL would also tell V1 from V1TTL, but TiKV panics on it on a V1 storage.)

import type { PdActor } from "../../actors/pd/pd-actor.js";
import type { StorePool } from "../../actors/store/store-pool.js";
import { findError } from "../../errors/base.js";
import { AbortedError, ApiVersionMismatchError } from "../../errors/server.js";
import { errorFromServerMessage } from "../../errors/server-message.js";
import type { ApiCodec } from "../../kv/api-codec.js";
import { APIVersion, Context, RawGetRequest } from "../../proto/kvrpcpb.js";
import type { ApiVersionName } from "../options.js";

/** The key the probe reads (any key does; this one tells what it is in TiKV's logs). */
export const API_VERSION_PROBE_KEY = Buffer.from("tikv-ts/api-version-probe");

/** Longest the probe waits (bounded by the client's connect timeout). */
export const API_VERSION_PROBE_TIMEOUT_MS = 2_000;

const CLUSTER_FLAG: Record<string, ApiVersionName> = { V1: "v1", V1ttl: "v1ttl", V1TTL: "v1ttl", V2: "v2" };

/**
 * Throws ApiVersionMismatchError when the cluster's storage does not serve `clientVersion`;
 * AbortedError when `signal` aborts; returns otherwise (also when the answer is inconclusive).
 */
export async function verifyApiVersion(
  pd: PdActor,
  stores: StorePool,
  codec: ApiCodec,
  clientVersion: ApiVersionName,
  connectTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const timeoutMs = Math.max(
    1,
    Math.min(connectTimeoutMs || API_VERSION_PROBE_TIMEOUT_MS, API_VERSION_PROBE_TIMEOUT_MS),
  );
  let message: string;
  try {
    const region = await pd.getRegion(API_VERSION_PROBE_KEY, { timeoutMs, signal });
    const peer = region?.leader ?? region?.meta.peers[0];
    if (!region || !peer) return;
    const store = await pd.getStore(peer.storeId, { timeoutMs, signal });
    if (!store || store.address === "") return;
    const context = Context.fromPartial({
      regionId: region.meta.id,
      regionEpoch: region.meta.regionEpoch,
      peer,
    });
    codec.applyToContext(context);
    const req = RawGetRequest.fromPartial({ context, key: codec.encodeKey(API_VERSION_PROBE_KEY) });
    const resp = await stores.get(Number(store.id), store.address).send("RawGet", req, { timeoutMs, signal });
    if (resp.regionError || resp.error === "") return;
    message = resp.error;
  } catch (e) {
    if (signal?.aborted) throw findError(e, AbortedError) ?? new AbortedError(signal.reason);
    return;
  }
  const err = errorFromServerMessage(message);
  if (!(err instanceof ApiVersionMismatchError)) return;
  throw apiVersionMismatch(clientVersion, codec.apiVersion, err);
}

/** The connect-time error: names the client's and the cluster's API versions and the fixes. */
export function apiVersionMismatch(
  clientVersion: ApiVersionName,
  requestVersion: APIVersion,
  cause: ApiVersionMismatchError,
): ApiVersionMismatchError {
  const storage = cause.storageApiVersion;
  const clusterFlag = storage === undefined ? undefined : CLUSTER_FLAG[storage];
  const served = clusterFlag === undefined ? "another API version" : `API ${clusterFlag}`;
  const fix =
    clusterFlag === undefined
      ? "connect with the cluster's apiVersion"
      : `connect with apiVersion: "${clusterFlag}", or serve API ${clientVersion} ` +
        `(tikv-ts cluster --api-version ${clientVersion}; TiKV storage.api-version)`;
  return new ApiVersionMismatchError(
    `API version mismatch: the client speaks API ${clientVersion} but the cluster serves ${served}; ${fix}` +
      ` (TiKV: ${cause.message})`,
    cause.command,
    storage,
    cause.requestApiVersion ?? APIVersion[requestVersion],
    { cause },
  );
}
