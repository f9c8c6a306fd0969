// Pure region-error helpers shared by the retry machine and the actors: the "no replica"
// marker, the RegionMiss accounting a re-splitting caller does, and a short description.
// Follows client-go internal/locate (isFakeRegionError, MayBackoffForRegionError).

import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import type { BackoffBudget } from "../ports.js";
import { Bo } from "./backoff-config.js";

/** True for an EpochNotMatch without current regions: the client's "no replica available" marker. */
export function isFakeRegionError(err: RegionErrorProto | undefined): boolean {
  return !!err?.epochNotMatch && err.epochNotMatch.currentRegions.length === 0;
}

/**
 * What a caller does with a region error it got back before re-splitting its request
 * (client-go MayBackoffForRegionError): a real EpochNotMatch retries at once (returns 0),
 * anything else accounts one RegionMiss backoff and returns the ms to sleep.
 */
export function mayBackoffForRegionError(err: RegionErrorProto | undefined, bo: BackoffBudget): number {
  if (!err) return 0;
  if (err.epochNotMatch && !isFakeRegionError(err)) return 0;
  return bo.next(Bo.RegionMiss, new Error(describeRegionError(err)));
}

/** Short text of a region error for logs and backoff records. */
export function describeRegionError(err: RegionErrorProto): string {
  const kinds = Object.entries(err)
    .filter(([k, v]) => k !== "message" && v !== undefined)
    .map(([k]) => k);
  return `${kinds.join(",") || "unknown"}${err.message ? `: ${err.message}` : ""}`;
}
