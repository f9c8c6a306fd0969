// What the admin calls (split, scatter, low-level requests) need from a connected client: the
// PD actor, the two routed senders (raw keys and transactional keys differ in codec and region
// cache), the metrics and the resolved options. Its own module so TikvClient and the admin
// modules do not import each other.

import type { PdActor } from "../../actors/pd/pd-actor.js";
import type { ClientMetrics } from "../../actors/runtime/metrics.js";
import type { RoutedSender } from "../../actors/runtime/routed-sender.js";
import type { StorePool } from "../../actors/store/store-pool.js";
import { InvalidArgumentError } from "../../errors/base.js";
import type { KeyMode } from "../../kv/api-codec.js";
import type { ResolvedConnectOptions } from "../options.js";

/** The parts of a connected client the admin calls use. */
export interface AdminContext {
  readonly pd: PdActor;
  readonly stores: StorePool;
  readonly metrics: ClientMetrics;
  readonly options: ResolvedConnectOptions;
  /** The sender of `mode` keys (the transactional one is created on first use). */
  sender(mode: KeyMode): RoutedSender;
  /** Throws ShuttingDownError after close(). */
  checkOpen(): void;
}

/** Checks a keyMode option: "txn" (default, as client-go's KVStore) or "raw". */
export function checkKeyMode(v: unknown, name = "keyMode"): KeyMode {
  if (v === undefined) return "txn";
  if (v !== "txn" && v !== "raw")
    throw new InvalidArgumentError(`must be "txn" or "raw", got ${String(v)}`, name);
  return v;
}

/** Checks an optional AbortSignal option. */
export function checkSignal(v: unknown, name = "signal"): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal))
    throw new InvalidArgumentError("must be an AbortSignal", name);
  return v as AbortSignal | undefined;
}

/** Checks a region or store id: a positive bigint, or a positive safe integer. */
export function checkId(v: unknown, name: string): bigint {
  if (typeof v === "bigint" && v > 0n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) return BigInt(v);
  throw new InvalidArgumentError(`must be a positive integer id (bigint or number), got ${String(v)}`, name);
}

/** Checks an options argument: undefined or an object. */
export function checkOptionsObject<T extends object>(v: T | undefined, name = "options"): T | Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== "object") throw new InvalidArgumentError("must be an object", name);
  return v;
}
