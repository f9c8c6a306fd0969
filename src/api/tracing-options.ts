// The `tracing` option of TikvClient.connect(): opt-in OpenTelemetry spans through
// @opentelemetry/api (an optional peer dependency, imported only when this option is set).

import type { TracerProviderLike } from "../actors/runtime/tracing.js";
import { InvalidArgumentError } from "../errors/base.js";

export type { TracerProviderLike };

/** OpenTelemetry tracing of the client (see the README's Tracing section). */
export interface TracingOptions {
  /** The provider of the client's tracer (default: the global one, `trace.getTracerProvider()`). */
  tracerProvider?: TracerProviderLike;
}

/** The resolved form of {@link TracingOptions}. */
export interface ResolvedTracingOptions {
  tracerProvider: TracerProviderLike | undefined;
}

/** Validates the `tracing` option: undefined or false = off; true = the global provider. */
export function checkTracingOptions(v: unknown): ResolvedTracingOptions | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { tracerProvider: undefined };
  if (v === null || typeof v !== "object") {
    throw new InvalidArgumentError("must be a boolean or an object", "tracing");
  }
  const p = (v as TracingOptions).tracerProvider as unknown;
  if (p !== undefined && (p === null || typeof (p as TracerProviderLike).getTracer !== "function")) {
    throw new InvalidArgumentError("must be an OpenTelemetry TracerProvider", "tracing.tracerProvider");
  }
  return { tracerProvider: p as TracerProviderLike | undefined };
}
