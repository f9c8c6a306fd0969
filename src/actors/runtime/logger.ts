// The pluggable logger (pino's method shape) and the logs the client writes to it: client-go's
// slow-request log. Silent by default: with no logger the client builds no log entry at all.

import { InvalidArgumentError } from "../../errors/base.js";
import { type RpcInterceptor, rpcInterceptor } from "../request/interceptor.js";

/** One logging method: a structured object and a message, as pino's `logger.warn(obj, msg)`. */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/**
 * What the client logs to (a pino logger fits as is; so does a small adapter over another one).
 *
 * @example
 * ```ts
 * import pino from "pino";
 * const client = await TikvClient.connect({ pdEndpoints, logger: pino({ level: "info" }) });
 * ```
 */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

/** Checks a logger option (an object with the five methods); throws InvalidArgumentError. */
export function checkLogger(v: unknown, name: string): Logger {
  if (v === null || typeof v !== "object") throw new InvalidArgumentError("must be a logger object", name);
  for (const l of LEVELS) {
    if (typeof (v as Record<string, unknown>)[l] !== "function") {
      throw new InvalidArgumentError(`must have a ${l}(obj, msg) method`, name);
    }
  }
  return v as Logger;
}

/**
 * `logger` with every call guarded: a logger that throws never breaks a request (its methods are
 * called with the logger as `this`, as pino needs).
 */
export function safeLogger(logger: Logger): Logger {
  const guard =
    (l: (typeof LEVELS)[number]): LogFn =>
    (obj, msg) => {
      try {
        logger[l](obj, msg);
      } catch {
        // a broken logger must not fail the call that logs
      }
    };
  return {
    trace: guard("trace"),
    debug: guard("debug"),
    info: guard("info"),
    warn: guard("warn"),
    error: guard("error"),
  };
}

/** Name of the client's slow-request interceptor (innermost in the client's chain). */
export const SLOW_REQUEST_INTERCEPTOR = "tikv-ts:slow-request";

/**
 * Logs every TiKV RPC attempt that took longer than `thresholdMs` (or failed after it) at warn
 * level with message "slow request" (client-go region_request.go slowLogSendReqTime).
 */
export function slowRequestInterceptor(logger: Logger, thresholdMs: number): RpcInterceptor {
  return rpcInterceptor(SLOW_REQUEST_INTERCEPTOR, (next) => async (req) => {
    const start = performance.now();
    let error: unknown;
    try {
      return await next(req);
    } catch (e) {
      error = e;
      throw e;
    } finally {
      const durationMs = performance.now() - start;
      if (durationMs > thresholdMs) {
        const entry: Record<string, unknown> = {
          command: req.command,
          regionId: req.regionId.toString(),
          storeId: req.storeId.toString(),
          address: req.address,
          attempt: req.attempt,
          durationMs: Math.round(durationMs),
          thresholdMs,
        };
        if (error !== undefined) entry.error = error instanceof Error ? error.message : String(error);
        logger.warn(entry, "slow request");
      }
    }
  });
}
