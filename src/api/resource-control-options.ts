// Resource control options (client-go: the resource group name and request source of
// KVTxn / KVSnapshot / rawkv calls; the PD client's resource group controller config) and their
// validation.

import type { GroupControllerConfig } from "../actors/resource-control/group-controller.js";
import { DEFAULT_REQUEST_UNIT_CONFIG, type RequestUnitConfig } from "../actors/resource-control/ru-model.js";
import { InvalidArgumentError } from "../errors/base.js";
import type { Context } from "../proto/kvrpcpb.js";
import { checkPositiveInt } from "./internal/validate.js";

export type { RequestUnitConfig };

/**
 * Throttling by PD's resource manager (connect option `resourceControl`): the client asks PD for
 * RU tokens of each resource group its requests name, and requests wait for them. Defaults are
 * the PD client's.
 */
export interface ResourceControlOptions {
  /** Longest a request waits for its tokens before it fails with ResourceGroupThrottledError (default 30 000 ms). */
  maxWaitMs?: number;
  /** Pause between a throttled request's attempts to take tokens (default 50 ms). */
  waitRetryIntervalMs?: number;
  /** Attempts before a throttled request fails (default 20). */
  waitRetryTimes?: number;
  /** The period PD sizes its grants for (default 5 000 ms). */
  targetPeriodMs?: number;
  /** How often consumption is reported and tokens asked for (default 1 000 ms). */
  updateIntervalMs?: number;
  /** RU cost parameters (default PD's DefaultRequestUnitConfig). */
  requestUnit?: Partial<RequestUnitConfig>;
}

/** Resource control fields of one call, snapshot or transaction. */
export interface ResourceCallOptions {
  /**
   * Resource group of the requests (kvrpcpb.Context.resource_control_context.resource_group_name);
   * overrides the client's `resourceGroupName`. 1-32 bytes, as PD allows.
   */
  resourceGroupName?: string;
  /**
   * Request source label (Context.request_source), e.g. from `buildRequestSource(false, "txn")`;
   * overrides the client's `requestSource`. Internal "others" requests skip resource control.
   */
  requestSource?: string;
}

const MAX_GROUP_NAME_BYTES = 32;

/** A resource group name as PD accepts it. */
export function checkResourceGroupName(v: unknown, name = "resourceGroupName"): string {
  if (typeof v !== "string" || v.length === 0 || Buffer.byteLength(v) > MAX_GROUP_NAME_BYTES)
    throw new InvalidArgumentError(`must be a string of 1-${MAX_GROUP_NAME_BYTES} bytes`, name);
  return v;
}

function checkSource(v: unknown, name: string): string {
  if (typeof v !== "string") throw new InvalidArgumentError("must be a string", name);
  return v;
}

/** The Context fields of `o` (undefined when it sets none). */
export function resourceContextFields(o: ResourceCallOptions | undefined): Partial<Context> | undefined {
  if (o === undefined || (o.resourceGroupName === undefined && o.requestSource === undefined))
    return undefined;
  const out: Partial<Context> = {};
  if (o.resourceGroupName !== undefined)
    out.resourceControlContext = {
      resourceGroupName: checkResourceGroupName(o.resourceGroupName),
      penalty: undefined,
      overridePriority: 0n,
    };
  if (o.requestSource !== undefined) out.requestSource = checkSource(o.requestSource, "requestSource");
  return out;
}

function positiveInt(v: unknown, name: string, def: number): number {
  return v === undefined ? def : checkPositiveInt(v, name, 2_147_483_647);
}

/** Validates `resourceControl` (undefined / false: off). */
export function resolveResourceControl(
  v: boolean | ResourceControlOptions | undefined,
): GroupControllerConfig | undefined {
  if (v === undefined || v === false) return undefined;
  if (v !== true && (v === null || typeof v !== "object"))
    throw new InvalidArgumentError("must be a boolean or an object", "resourceControl");
  const o: ResourceControlOptions = v === true ? {} : v;
  const ru: RequestUnitConfig = { ...DEFAULT_REQUEST_UNIT_CONFIG };
  for (const [k, x] of Object.entries(o.requestUnit ?? {})) {
    if (!(k in ru)) throw new InvalidArgumentError("unknown field", `resourceControl.requestUnit.${k}`);
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0)
      throw new InvalidArgumentError("must be a non-negative number", `resourceControl.requestUnit.${k}`);
    ru[k as keyof RequestUnitConfig] = x;
  }
  return {
    ru,
    maxWaitMs: positiveInt(o.maxWaitMs, "resourceControl.maxWaitMs", 30_000),
    waitRetryIntervalMs: positiveInt(o.waitRetryIntervalMs, "resourceControl.waitRetryIntervalMs", 50),
    waitRetryTimes: positiveInt(o.waitRetryTimes, "resourceControl.waitRetryTimes", 20),
    targetPeriodMs: positiveInt(o.targetPeriodMs, "resourceControl.targetPeriodMs", 5_000),
    updateIntervalMs: positiveInt(o.updateIntervalMs, "resourceControl.updateIntervalMs", 1_000),
  };
}
