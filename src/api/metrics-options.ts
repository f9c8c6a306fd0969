// The `metrics` option of TikvClient.connect(): opt-in Prometheus export through prom-client
// (an optional peer dependency, imported only when this option is set).

import type { MetricsSink } from "../actors/runtime/metrics-sink.js";
import { InvalidArgumentError } from "../errors/base.js";

/**
 * The part of a prom-client `Registry` the client uses, typed structurally so that the
 * package's types do not need prom-client installed.
 */
export interface PrometheusRegistry {
  /** The registry's exposition text (prom-client Registry.metrics). */
  metrics(): Promise<string>;
  /** The metric registered under `name`, if any (reused when several clients share a registry). */
  getSingleMetric(name: string): unknown;
  /** Registers a metric (called by prom-client's metric constructors). */
  registerMetric(metric: never): void;
}

/** Prometheus export of the client's metrics (see the README's Metrics section). */
export interface MetricsOptions {
  /** Registry the client's metric families go to (default: prom-client's global `register`). */
  registry?: PrometheusRegistry;
  /**
   * Name prefix of every family (default `"tikv_client_ts_"`; `"tikv_client_go_"` reuses
   * client-go's dashboards, whose family and label names these follow).
   */
  prefix?: string;
}

/** The resolved form of {@link MetricsOptions}. */
export interface ResolvedMetricsOptions {
  registry: PrometheusRegistry | undefined;
  prefix: string;
}

/** The default prefix of every metric family. */
export const DEFAULT_METRICS_PREFIX = "tikv_client_ts_";

// Prometheus metric name characters; a prefix may end in "_" (or be empty)
const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Validates the `metrics` option: undefined or false = off; true = prom-client's global
 * registry with the default prefix; an object = {@link MetricsOptions}.
 */
export function checkMetricsOptions(v: unknown): ResolvedMetricsOptions | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { registry: undefined, prefix: DEFAULT_METRICS_PREFIX };
  if (v === null || typeof v !== "object") {
    throw new InvalidArgumentError("must be a boolean or an object", "metrics");
  }
  const o = v as MetricsOptions;
  const r = o.registry as unknown;
  if (
    r !== undefined &&
    (r === null ||
      typeof r !== "object" ||
      typeof (r as PrometheusRegistry).registerMetric !== "function" ||
      typeof (r as PrometheusRegistry).getSingleMetric !== "function")
  ) {
    throw new InvalidArgumentError("must be a prom-client Registry", "metrics.registry");
  }
  const prefix = o.prefix ?? DEFAULT_METRICS_PREFIX;
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new InvalidArgumentError("must match [a-zA-Z_:][a-zA-Z0-9_:]* (or be empty)", "metrics.prefix");
  }
  return { registry: o.registry, prefix };
}

/**
 * The prom-client sink for `opts`. The sink module (and prom-client with it) is imported here,
 * on first use, so clients without metrics never load it.
 */
export async function loadMetricsSink(opts: ResolvedMetricsOptions): Promise<MetricsSink> {
  let mod: typeof import("./prometheus-sink.js");
  try {
    mod = await import("./prometheus-sink.js");
  } catch (e) {
    throw new InvalidArgumentError(
      "needs the optional peer dependency prom-client (npm install prom-client)",
      "metrics",
      {
        cause: e,
      },
    );
  }
  return mod.createPromSink(opts);
}
