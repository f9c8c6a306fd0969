// OpenTelemetry tracing (opt-in; @opentelemetry/api is an optional peer dependency, imported only
// when tracing is asked for). One span per transaction commit with a child per phase, per lock
// resolution, per region-cache load from PD and per TiKV RPC attempt; retries and backoffs are
// span events. Span names follow client-go's opentracing spans where it has them.
//
// Our own spans nest through an AsyncLocalStorage holding the current OpenTelemetry context, so
// the tree holds without the application registering a context manager; the root of a tree is
// the caller's active context (context.with / startActiveSpan), so the application's spans
// parent ours. With tracing off nothing here is loaded and every hook is one undefined check.

import { AsyncLocalStorage } from "node:async_hooks";
import type * as otel from "@opentelemetry/api";
import { regionErrorKind } from "../../errors/server.js";
import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import { type RpcInterceptor, rpcInterceptor } from "../request/interceptor.js";

/** Span attribute values we set. */
export type TraceAttributes = Record<string, string | number | boolean>;

/** What the client's runtime calls when tracing is on. */
export interface Tracing {
  /**
   * Runs `fn` inside a new span `name` (child of the current one); the span ends when it
   * settles. `client` marks a span of a call to a server (an RPC), the rest are internal.
   */
  span<T>(
    name: string,
    attributes: TraceAttributes,
    fn: () => Promise<T>,
    kind?: "client" | "internal",
  ): Promise<T>;
  /** Adds an event to the current span (ours, else the caller's active one); no span, no event. */
  event(name: string, attributes: TraceAttributes): void;
  /** The interceptor that opens one span per RPC attempt. */
  readonly interceptor: RpcInterceptor;
}

/** The part of an OpenTelemetry TracerProvider the client uses (typed structurally). */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): unknown;
}

/** Loads the OpenTelemetry API package (injectable for tests). */
export type OtelLoader = () => Promise<unknown>;

const defaultLoader: OtelLoader = () => import("@opentelemetry/api");

/** The instrumentation scope name of the client's spans. */
const TRACER_NAME = "tikv-ts";

// OTel semantic conventions for database client spans (db.system.name is the current key,
// db.system the older one that many backends still index)
const DB_ATTRIBUTES: TraceAttributes = { "db.system": "tikv", "db.system.name": "tikv" };

/**
 * The tracing of a client: the OpenTelemetry API loaded with `loader`, spans made by
 * `provider`'s tracer (default: the global provider). Resolves undefined when the API package
 * cannot be loaded, so a client asked for tracing without the package runs untraced.
 */
export async function loadTracing(
  provider: TracerProviderLike | undefined,
  loader: OtelLoader = defaultLoader,
): Promise<Tracing | undefined> {
  let api: typeof otel;
  try {
    const mod = (await loader()) as typeof otel & { default?: typeof otel };
    api = typeof mod.trace?.getTracer === "function" ? mod : (mod.default as typeof otel);
    if (typeof api?.trace?.getTracer !== "function") return undefined;
  } catch {
    return undefined;
  }
  const tracer = (provider ?? api.trace.getTracerProvider()).getTracer(TRACER_NAME) as otel.Tracer;
  return new OtelTracing(api, tracer);
}

class OtelTracing implements Tracing {
  private readonly als = new AsyncLocalStorage<otel.Context>();
  readonly interceptor: RpcInterceptor;

  constructor(
    private readonly api: typeof otel,
    private readonly tracer: otel.Tracer,
  ) {
    this.interceptor = rpcInterceptor("tikv-tracing", (next) => (req) => {
      const attributes: TraceAttributes = {
        "db.operation.name": req.command,
        "tikv.command": req.command,
        "tikv.region_id": req.regionId.toString(),
        "tikv.store_id": req.storeId.toString(),
        "tikv.attempt": req.attempt,
        "server.address": req.address,
      };
      // client-go names it "rpcClient.SendRequest, region ID: N, type: T"; ids go in attributes
      return this.span(
        `rpcClient.SendRequest ${req.command}`,
        attributes,
        async () => {
          const resp = await next(req);
          const re = (resp as { regionError?: RegionErrorProto } | null)?.regionError;
          if (re) {
            const kind = regionErrorKind(re);
            const span = this.api.trace.getSpan(this.current());
            span?.addEvent("tikv.region_error", { "tikv.region_error": kind });
            span?.setAttribute("tikv.region_error", kind);
          }
          return resp;
        },
        "client",
      );
    });
  }

  // our current context, else the caller's active one
  private current(): otel.Context {
    return this.als.getStore() ?? this.api.context.active();
  }

  span<T>(
    name: string,
    attributes: TraceAttributes,
    fn: () => Promise<T>,
    kind: "client" | "internal" = "internal",
  ): Promise<T> {
    const parent = this.current();
    const span = this.tracer.startSpan(
      name,
      {
        kind: kind === "client" ? this.api.SpanKind.CLIENT : this.api.SpanKind.INTERNAL,
        attributes: { ...DB_ATTRIBUTES, ...attributes },
      },
      parent,
    );
    const ctx = this.api.trace.setSpan(parent, span);
    const fail = (e: unknown) => {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({
        code: this.api.SpanStatusCode.ERROR,
        message: e instanceof Error ? e.message : String(e),
      });
      span.end();
    };
    let p: Promise<T>;
    try {
      p = this.als.run(ctx, fn);
    } catch (e) {
      fail(e);
      throw e;
    }
    return p.then(
      (v) => {
        span.end();
        return v;
      },
      (e: unknown) => {
        fail(e);
        throw e;
      },
    );
  }

  event(name: string, attributes: TraceAttributes): void {
    this.api.trace.getSpan(this.current())?.addEvent(name, attributes);
  }
}
