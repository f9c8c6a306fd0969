// TiKV's bucket-version check (src/coprocessor/endpoint.rs handle_unary_request_impl): a request
// whose context names a bucket version older than the region's current one is answered with
// BucketVersionNotMatch carrying the current version and boundary keys, so the sender can
// re-split it by bucket. A version of 0 means "not bucket-aware" and is never rejected.
//
// TiKV runs this check only on the coprocessor path (Coprocessor / CoprocessorStream /
// BatchCoprocessor); its KV and raw commands use buckets for flow statistics only. The mock
// store serves no coprocessor, so no command of the pipeline calls this; tests and fault
// scripts use it to produce exactly the answer TiKV would give.
import type { Error as RegionError } from "../../proto/errorpb.js";
import type { Context } from "../../proto/kvrpcpb.js";
import type { RegionState } from "./ports.js";
import { RegionErrors } from "./region-errors.js";

/**
 * BucketVersionNotMatch for a request with `ctx` on `region`, or undefined when the request may
 * proceed (no buckets, version 0, or not older than the region's).
 *
 * @example
 * const err = checkBucketsVersion(topology.regionState(id), ctx);
 * if (err) faults.failNext({ rpc: "RawGet", error: { regionError: err } });
 */
export function checkBucketsVersion(
  region: Pick<RegionState, "buckets"> | undefined,
  ctx: Pick<Context, "bucketsVersion"> | undefined,
): RegionError | undefined {
  const b = region?.buckets;
  const asked = ctx?.bucketsVersion ?? 0n;
  if (!b || asked === 0n || b.version <= asked) return undefined;
  return RegionErrors.bucketVersionNotMatch(b.version, [...b.keys]);
}
