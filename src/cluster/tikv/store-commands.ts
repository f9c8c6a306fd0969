// Store-level RPCs (no ordinary region read/write path): SplitRegion, UnsafeDestroyRange,
// GetStoreSafeTS, GetHealthFeedback, GetLockWaitInfo. Follows tikv src/server/service/kv.rs.

import * as kv from "../../proto/kvrpcpb.js";
import type { Region } from "../../proto/metapb.js";
import { type RegionKeyEncoding, toStoredKey } from "../topology/stored-keys.js";
import { type CommandSpec, type ExecEnv, keyErrorText, type RegionKeyForms } from "./commands.js";
import { type RegionKeyForm, USER_KEY_FORM } from "./region-check.js";
import { RegionErrors } from "./region-errors.js";

export type { RegionKeyEncoding };

const NONE: readonly Buffer[] = [];

const encodeKey = (k: Buffer): Buffer => toStoredKey("memcomparable", k);
const ENCODED_KEYS: RegionKeyForm = { key: encodeKey, encodes: true };
const encodeRegion = (r: Region): Region => ({
  ...r,
  startKey: encodeKey(r.startKey),
  endKey: encodeKey(r.endKey),
});

/**
 * The form transactional keys meet the boundaries in: memcomparable-encoded on a
 * "memcomparable" cluster (TiKV's Key::from_raw), as sent on a "raw" one (where every key is
 * compared as sent, a simplification: such a cluster is for raw clients).
 */
export function regionKeyForm(encoding: RegionKeyEncoding): RegionKeyForm {
  return encoding === "raw" ? USER_KEY_FORM : ENCODED_KEYS;
}

/**
 * A store's key forms: raw keys are compared as sent under API V1/V1TTL (TiKV keeps them
 * unencoded) and encoded like txn keys under API V2 (ApiV2::encode_raw_key).
 */
export function regionKeyForms(encoding: RegionKeyEncoding, apiVersion: kv.APIVersion): RegionKeyForms {
  const txn = regionKeyForm(encoding);
  return { txn, raw: apiVersion === kv.APIVersion.V2 ? txn : USER_KEY_FORM };
}

function splitKeysOf(req: kv.SplitRegionRequest): Buffer[] {
  const keys = req.splitKey.length > 0 ? [req.splitKey] : [...req.splitKeys];
  keys.sort(Buffer.compare);
  return keys.filter((k, i) => i === 0 || !k.equals(keys[i - 1] as Buffer));
}

function split(env: ExecEnv, req: kv.SplitRegionRequest): kv.SplitRegionResponse {
  const regionId = req.context?.regionId ?? 0n;
  const state = env.topology.regionState(regionId);
  if (!state)
    return kv.SplitRegionResponse.fromPartial({ regionError: RegionErrors.regionNotFound(regionId) });
  const region = state.storedRegion ?? state.region;
  // TiKV encodes split keys unless they are raw API V1 keys (service/kv.rs split_region).
  const form = req.isRawKv ? env.regionKeys.raw : env.regionKeys.txn;
  const keys = splitKeysOf(req).map(form.key);
  if (keys.length === 0) {
    return kv.SplitRegionResponse.fromPartial({
      regionError: { message: "failed to split: missing split key" },
    });
  }
  for (const k of keys) {
    const inside =
      Buffer.compare(k, region.startKey) > 0 &&
      (region.endKey.length === 0 || Buffer.compare(k, region.endKey) < 0);
    if (!inside) {
      return kv.SplitRegionResponse.fromPartial({
        regionError: RegionErrors.keyNotInRegion(k, region, "write"),
      });
    }
  }
  let regions: Region[];
  try {
    regions = env.topology.split(regionId, keys);
  } catch (e) {
    return kv.SplitRegionResponse.fromPartial({
      regionError: { message: `failed to split: ${(e as Error).message}` },
    });
  }
  if (regions.length < 2) {
    return kv.SplitRegionResponse.fromPartial({
      regionError: { message: `Internal Error: invalid response: ${regions.length} region(s)` },
    });
  }
  // Boundaries come back in stored form. A "raw" cluster keeps txn split keys as sent, but
  // answers them encoded, as TiKV would have stored them.
  const plainRaw = req.isRawKv && env.apiVersion !== kv.APIVersion.V2;
  const out = form.encodes || plainRaw ? regions : regions.map(encodeRegion);
  return kv.SplitRegionResponse.fromPartial(
    out.length === 2 ? { regions: out, left: out[0], right: out[1] } : { regions: out },
  );
}

/** Lowest safe ts among this store's regions overlapping `range` (0 when none). */
function storeSafeTs(env: ExecEnv, range: kv.KeyRange | undefined): bigint {
  const start = range?.startKey ?? Buffer.alloc(0);
  const end = range?.endKey ?? Buffer.alloc(0);
  let min: bigint | undefined;
  for (const r of env.topology.regionsOnStore(env.storeId)) {
    const beforeEnd = end.length === 0 || Buffer.compare(r.startKey, end) < 0;
    const afterStart = r.endKey.length === 0 || Buffer.compare(r.endKey, start) > 0;
    if (!beforeEnd || !afterStart) continue;
    const ts = env.topology.regionState(r.id)?.safeTs ?? 0n;
    if (min === undefined || ts < min) min = ts;
  }
  return min ?? 0n;
}

/** Store-level command table. */
export const STORE_COMMANDS = {
  SplitRegion: {
    rpc: "SplitRegion",
    access: "split",
    keys: (r: kv.SplitRegionRequest) => (r.splitKey.length > 0 ? [r.splitKey] : r.splitKeys),
    rawKeys: (r: kv.SplitRegionRequest) => r.isRawKv,
    exec: (env, r: kv.SplitRegionRequest) => split(env, r),
    withRegionError: (e) => kv.SplitRegionResponse.fromPartial({ regionError: e }),
    withKeyError: (e) => kv.SplitRegionResponse.fromPartial({ errors: [e] }),
  },
  UnsafeDestroyRange: {
    rpc: "UnsafeDestroyRange",
    access: "none",
    keys: (r: kv.UnsafeDestroyRangeRequest) => [r.startKey],
    exec: (env, r: kv.UnsafeDestroyRangeRequest) => {
      // TiKV refuses MIN_KEY / MAX_KEY bounds outright (an assertion); we answer an error.
      if (r.startKey.length === 0 || r.endKey.length === 0) {
        return kv.UnsafeDestroyRangeResponse.fromPartial({
          error: "unsafe destroy range needs non-empty bounds",
        });
      }
      env.txn.unsafeDestroyRange(r.startKey, r.endKey);
      env.raw.unsafeDestroyRange(r.startKey, r.endKey);
      return kv.UnsafeDestroyRangeResponse.fromPartial({});
    },
    withRegionError: (e) => kv.UnsafeDestroyRangeResponse.fromPartial({ regionError: e }),
    withKeyError: (e) => kv.UnsafeDestroyRangeResponse.fromPartial({ error: keyErrorText(e) }),
  },
  GetStoreSafeTS: {
    rpc: "GetStoreSafeTS",
    access: "none",
    keys: () => NONE,
    exec: (env, r: kv.StoreSafeTSRequest) =>
      kv.StoreSafeTSResponse.fromPartial({ safeTs: storeSafeTs(env, r.keyRange) }),
    withRegionError: () => kv.StoreSafeTSResponse.fromPartial({}),
    withKeyError: () => kv.StoreSafeTSResponse.fromPartial({}),
  },
  GetHealthFeedback: {
    rpc: "GetHealthFeedback",
    access: "none",
    keys: () => NONE,
    exec: (env) => kv.GetHealthFeedbackResponse.fromPartial({ healthFeedback: env.healthFeedback() }),
    withRegionError: (e) => kv.GetHealthFeedbackResponse.fromPartial({ regionError: e }),
    withKeyError: () => kv.GetHealthFeedbackResponse.fromPartial({}),
  },
  GetLockWaitInfo: {
    rpc: "GetLockWaitInfo",
    access: "none",
    keys: () => NONE,
    exec: (env) => kv.GetLockWaitInfoResponse.fromPartial({ entries: env.lockWaitInfo() }),
    withRegionError: (e) => kv.GetLockWaitInfoResponse.fromPartial({ regionError: e }),
    withKeyError: (e) => kv.GetLockWaitInfoResponse.fromPartial({ error: keyErrorText(e) }),
  },
} satisfies Record<string, CommandSpec>;
