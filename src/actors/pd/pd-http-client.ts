// The one PD HTTP call the client makes (pd client/http GetMinResolvedTSByStoresIDs):
// GET /pd/api/v1/min-resolved-ts[?scope=<store ids>], tried on each endpoint in turn. An answer
// without is_real_time (PD's min resolved ts feature off) is an error, as in pd's client, so the
// caller falls back to the stores. node:http(s) rather than fetch: Node's fetch takes no CA or
// client certificate without undici's dispatcher, which Node does not expose.

import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { type TlsOptions, tlsMaterial } from "../../rpc/channel.js";

/** The path of PD's min resolved ts (pd client/http MinResolvedTSPrefix). */
export const MIN_RESOLVED_TS_PATH = "/pd/api/v1/min-resolved-ts";
/** Budget of one HTTP request (pd client/http's default client has none; TiKV's ReadTimeoutShort is 30 s). */
export const PD_HTTP_TIMEOUT_MS = 5_000;

/** PD's answer: the min over the asked stores (or the cluster) and, with a scope, each store's value. */
export interface MinResolvedTsAnswer {
  minResolvedTs: bigint;
  /** Per store; undefined when no scope was given (PD answers null). 2^64-1 = PD has no value. */
  stores: Map<bigint, bigint> | undefined;
}

/** A failed or unusable PD HTTP answer (internal: the min-safe-ts tracker falls back on it). */
export class PdHttpError extends Error {
  override readonly name = "PdHttpError";
}

/** Asks PD's HTTP API; endpoints are "host:port" or "http(s)://host:port". */
export class PdHttpClient {
  private readonly urls: string[];
  private readonly tls: ReturnType<typeof tlsMaterial> & { servername?: string };

  constructor(
    endpoints: readonly string[],
    tls: TlsOptions | undefined,
    private readonly timeoutMs = PD_HTTP_TIMEOUT_MS,
  ) {
    const scheme = tls ? "https" : "http";
    this.urls = endpoints.map((e) => (/^https?:\/\//i.test(e) ? e : `${scheme}://${e}`).replace(/\/$/, ""));
    this.tls = tls ? { ...tlsMaterial(tls), servername: tls.serverName } : {};
  }

  /**
   * The min resolved ts of `storeIds` (all given: PD's scope; empty: the cluster's, without
   * per-store values). Rejects with PdHttpError when every endpoint fails or PD's feature is off.
   */
  async minResolvedTs(storeIds: readonly bigint[] = []): Promise<MinResolvedTsAnswer> {
    const query = storeIds.length > 0 ? `?scope=${storeIds.join(",")}` : "";
    let last: unknown;
    for (const base of this.urls) {
      try {
        return parseMinResolvedTs(await this.get(`${base}${MIN_RESOLVED_TS_PATH}${query}`));
      } catch (e) {
        // not real time is PD's settled answer, not a member failure: no other member will differ
        if (e instanceof PdHttpError && e.message === NOT_ENABLED) throw e;
        last = e;
      }
    }
    throw last instanceof PdHttpError ? last : new PdHttpError(`PD HTTP request failed: ${String(last)}`);
  }

  private get(url: string): Promise<string> {
    const https = url.startsWith("https:");
    const req = (https ? httpsRequest : httpRequest)(url, {
      method: "GET",
      timeout: this.timeoutMs,
      ...(https ? this.tls : {}),
    });
    return new Promise<string>((resolve, reject) => {
      req.on("timeout", () =>
        req.destroy(new PdHttpError(`PD HTTP request timed out after ${this.timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === 200) resolve(body);
          else reject(new PdHttpError(`PD HTTP ${res.statusCode}: ${body.trim()}`));
        });
      });
      req.end();
    });
  }
}

const NOT_ENABLED = "min resolved ts is not enabled";

/**
 * Parses PD's JSON answer. Its uint64 values exceed 2^53, so the bare integers are quoted
 * before JSON.parse and read back as bigint.
 */
export function parseMinResolvedTs(body: string): MinResolvedTsAnswer {
  let raw: {
    is_real_time?: boolean;
    min_resolved_ts?: string;
    stores_min_resolved_ts?: Record<string, string> | null;
  };
  try {
    raw = JSON.parse(body.replace(/([:[,]\s*)(-?\d+)(?=\s*[,}\]])/g, '$1"$2"'));
  } catch (e) {
    throw new PdHttpError(`PD answered invalid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object") throw new PdHttpError("PD answered a non-object");
  if (raw.is_real_time !== true) throw new PdHttpError(NOT_ENABLED);
  const min = toU64(raw.min_resolved_ts, "min_resolved_ts");
  const src = raw.stores_min_resolved_ts;
  const stores = src
    ? new Map(Object.entries(src).map(([id, ts]) => [toU64(id, "store id"), toU64(ts, id)]))
    : undefined;
  return { minResolvedTs: min, stores };
}

function toU64(v: unknown, what: string): bigint {
  if (typeof v !== "string" || !/^[0-9]+$/.test(v))
    throw new PdHttpError(`PD answered a bad ${what}: ${String(v)}`);
  return BigInt(v);
}
