// Scattering regions and waiting for it (client-go tikv/split_region.go: scatterRegion,
// WaitScatterRegionFinish, CheckRegionInScattering). PD moves a scattered region's peers and
// leader with a "scatter-region" operator; GetOperator reports it RUNNING until it is done.

import { Bo } from "../../actors/backoff/backoff-config.js";
import { Backoffer } from "../../actors/backoff/backoffer.js";
import { InvalidArgumentError } from "../../errors/base.js";
import { AbortedError, PdError, ShuttingDownError, TimeoutError } from "../../errors/server.js";
import { GetOperatorRequest, OperatorStatus, ScatterRegionRequest } from "../../proto/pdpb.js";
import { type AdminContext, checkId, checkOptionsObject, checkSignal } from "./admin-context.js";
import type { ScatterOptions, ScatterResult, WaitScatterOptions } from "./types.js";

export type { ScatterOptions, ScatterResult, WaitScatterOptions };

/** client-go waitScatterRegionFinishBackoff. */
export const DEFAULT_WAIT_SCATTER_MS = 120_000;
/** Budget of a scatter call's PD retries (client-go splitRegionBackoff). */
export const DEFAULT_SCATTER_BACKOFF_MS = 20_000;
const SCATTER_DESC = "scatter-region";

// errors no retry can fix
function isFinal(e: unknown): boolean {
  return e instanceof AbortedError || e instanceof InvalidArgumentError || e instanceof ShuttingDownError;
}

/**
 * Asks PD to scatter `regionIds`, retrying failed calls with the PDRPC backoff of `bo` (client-go
 * scatterRegion, which calls pdClient.ScatterRegions for one region at a time).
 */
export async function scatterWithBackoff(
  ctx: AdminContext,
  regionIds: readonly bigint[],
  group: string,
  bo: Backoffer,
  signal: AbortSignal | undefined,
): Promise<ScatterResult> {
  for (;;) {
    try {
      const resp = await ctx.pd.call(
        "scatterRegion",
        ScatterRegionRequest.fromPartial({ regionsId: [...regionIds], group }),
        { signal },
      );
      return { finishedPercentage: Number(resp.finishedPercentage), failedRegionIds: resp.failedRegionsId };
    } catch (e) {
      if (isFinal(e)) throw e;
      await bo.backoff(Bo.PDRPC, e);
    }
  }
}

/** {@link TikvClient.scatterRegion}: validates, then scatters. */
export async function scatterRegions(
  ctx: AdminContext,
  ids: bigint | number | readonly (bigint | number)[],
  options?: ScatterOptions,
): Promise<ScatterResult> {
  ctx.checkOpen();
  const opts = checkOptionsObject(options);
  const list = Array.isArray(ids) ? ids : [ids as bigint | number];
  if (list.length === 0) throw new InvalidArgumentError("at least one region id is required", "regionIds");
  const regionIds = list.map((id, i) => checkId(id, Array.isArray(ids) ? `regionIds[${i}]` : "regionId"));
  const group = checkGroup(opts.group);
  const signal = checkSignal(opts.signal);
  const maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_SCATTER_BACKOFF_MS;
  if (!Number.isInteger(maxBackoffMs) || maxBackoffMs < 0) {
    throw new InvalidArgumentError(
      `must be a non-negative integer, got ${String(maxBackoffMs)}`,
      "maxBackoffMs",
    );
  }
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const bo = new Backoffer({ maxSleepMs: maxBackoffMs, weight: 1, signal });
  return scatterWithBackoff(ctx, regionIds, group, bo, signal);
}

/** Checks a scatter group option (a string; "" = none). */
export function checkGroup(v: unknown): string {
  if (v === undefined) return "";
  if (typeof v !== "string") throw new InvalidArgumentError("must be a string", "group");
  return v;
}

/**
 * One GetOperator call: true while the region has a RUNNING scatter-region operator. An error
 * header (PD answers "region not found" when the region has no operator) counts as "not
 * scattering", as in client-go (it only looks at desc and status).
 */
async function scattering(
  ctx: AdminContext,
  regionId: bigint,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    const resp = await ctx.pd.call("getOperator", GetOperatorRequest.fromPartial({ regionId }), { signal });
    return resp.desc.toString() === SCATTER_DESC && resp.status === OperatorStatus.RUNNING;
  } catch (e) {
    if (e instanceof PdError) return false;
    throw e;
  }
}

/**
 * {@link TikvClient.waitScatterRegionFinish}: polls GetOperator, backing off (RegionMiss kind,
 * 2-500 ms) between polls and after failed calls, until the scatter operator is not running.
 */
export async function waitScatterRegionFinish(
  ctx: AdminContext,
  regionId: bigint | number,
  options?: WaitScatterOptions,
): Promise<void> {
  ctx.checkOpen();
  const opts = checkOptionsObject(options);
  const id = checkId(regionId, "regionId");
  const signal = checkSignal(opts.signal);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_SCATTER_MS;
  if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidArgumentError(
      `must be a positive integer of milliseconds, got ${String(timeoutMs)}`,
      "timeoutMs",
    );
  }
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const deadline = Date.now() + timeoutMs;
  // the deadline bounds the wait; the backoffer only paces the polls
  const bo = new Backoffer({ maxSleepMs: 0, signal });
  let last: unknown;
  for (;;) {
    try {
      if (!(await scattering(ctx, id, signal))) return;
      last = undefined;
    } catch (e) {
      if (isFinal(e)) throw e;
      last = e;
    }
    const ms = bo.next(Bo.RegionMiss, last ?? new Error("wait scatter region timeout"));
    if (Date.now() + ms >= deadline) {
      throw new TimeoutError(
        `wait scatter region ${id}`,
        timeoutMs,
        last === undefined ? undefined : { cause: last },
      );
    }
    await bo.sleep(ms);
  }
}

/**
 * {@link TikvClient.checkRegionInScattering}: one look at the region's operator (GetOperator
 * failures are retried with the RegionMiss backoff for up to 20 s, client-go
 * NewLocateRegionBackoffer).
 */
export async function checkRegionInScattering(
  ctx: AdminContext,
  regionId: bigint | number,
  options?: { signal?: AbortSignal },
): Promise<boolean> {
  ctx.checkOpen();
  const id = checkId(regionId, "regionId");
  const signal = checkSignal(checkOptionsObject(options).signal);
  const bo = new Backoffer({ maxSleepMs: DEFAULT_SCATTER_BACKOFF_MS, signal });
  for (;;) {
    try {
      return await scattering(ctx, id, signal);
    } catch (e) {
      if (isFinal(e)) throw e;
      await bo.backoff(Bo.RegionMiss, e);
    }
  }
}
