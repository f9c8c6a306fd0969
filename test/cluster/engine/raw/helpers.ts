/** Shared fixtures for the RawEngine tests: a fake clock and terse request builders. */

import { RawEngine } from "../../../../src/cluster/engine/raw/raw-engine.js";
import {
  APIVersion,
  type KvPair,
  RawBatchDeleteRequest,
  RawBatchGetRequest,
  RawBatchPutRequest,
  RawBatchScanRequest,
  RawCASRequest,
  RawChecksumRequest,
  RawDeleteRangeRequest,
  RawDeleteRequest,
  RawGetKeyTTLRequest,
  RawGetRequest,
  RawPutRequest,
  RawScanRequest,
} from "../../../../src/proto/kvrpcpb.js";

/** A manually advanced wall clock (milliseconds). */
export class FakeClock {
  constructor(public ms = 1_700_000_000_000) {}
  readonly now = (): number => this.ms;
  advanceSeconds(s: number): void {
    this.ms += s * 1000;
  }
}

export const b = (s: string): Buffer => Buffer.from(s, "latin1");

/** An engine with storage `storage` whose requests are sent as `request` (default: what the storage accepts). */
export function setup(storage: APIVersion = APIVersion.V1, request?: APIVersion) {
  const clock = new FakeClock();
  const engine = new RawEngine({ now: clock.now, apiVersion: storage });
  const apiVersion = request ?? (storage === APIVersion.V2 ? APIVersion.V2 : APIVersion.V1);
  const context = { apiVersion };
  const r = {
    get: (key: string, cf = "") => engine.rawGet(RawGetRequest.fromPartial({ context, key: b(key), cf })),
    put: (key: string, value: string, opts: { cf?: string; ttl?: bigint; forCas?: boolean } = {}) =>
      engine.rawPut(RawPutRequest.fromPartial({ context, key: b(key), value: b(value), ...opts })),
    batchGet: (keys: string[], cf = "") =>
      engine.rawBatchGet(RawBatchGetRequest.fromPartial({ context, keys: keys.map(b), cf })),
    batchPut: (pairs: [string, string][], opts: { cf?: string; ttls?: bigint[]; forCas?: boolean } = {}) =>
      engine.rawBatchPut(
        RawBatchPutRequest.fromPartial({
          context,
          pairs: pairs.map(([k, v]) => ({ key: b(k), value: b(v) })),
          ...opts,
        }),
      ),
    del: (key: string, opts: { cf?: string; forCas?: boolean } = {}) =>
      engine.rawDelete(RawDeleteRequest.fromPartial({ context, key: b(key), ...opts })),
    batchDel: (keys: string[], opts: { cf?: string; forCas?: boolean } = {}) =>
      engine.rawBatchDelete(RawBatchDeleteRequest.fromPartial({ context, keys: keys.map(b), ...opts })),
    deleteRange: (start: string, end: string, cf = "") =>
      engine.rawDeleteRange(
        RawDeleteRangeRequest.fromPartial({ context, startKey: b(start), endKey: b(end), cf }),
      ),
    scan: (
      start: string,
      end: string,
      limit: number,
      opts: { reverse?: boolean; keyOnly?: boolean; cf?: string } = {},
      region?: { start: string; end: string },
    ) =>
      engine.rawScan(
        RawScanRequest.fromPartial({ context, startKey: b(start), endKey: b(end), limit, ...opts }),
        region && { start: b(region.start), end: b(region.end) },
      ),
    batchScan: (
      ranges: [string, string][],
      eachLimit: number,
      opts: { reverse?: boolean; keyOnly?: boolean; cf?: string } = {},
      region?: { start: string; end: string },
    ) =>
      engine.rawBatchScan(
        RawBatchScanRequest.fromPartial({
          context,
          ranges: ranges.map(([s, e]) => ({ startKey: b(s), endKey: b(e) })),
          eachLimit,
          ...opts,
        }),
        region && { start: b(region.start), end: b(region.end) },
      ),
    ttl: (key: string, cf = "") =>
      engine.rawGetKeyTTL(RawGetKeyTTLRequest.fromPartial({ context, key: b(key), cf })),
    cas: (
      key: string,
      previous: string | null,
      value: string,
      opts: { ttl?: bigint; delete?: boolean; cf?: string } = {},
    ) =>
      engine.rawCompareAndSwap(
        RawCASRequest.fromPartial({
          context,
          key: b(key),
          value: b(value),
          previousNotExist: previous === null,
          previousValue: previous === null ? Buffer.alloc(0) : b(previous),
          ...opts,
        }),
      ),
    checksum: (ranges: [string, string][], region?: { start: string; end: string }) =>
      engine.rawChecksum(
        RawChecksumRequest.fromPartial({
          context,
          ranges: ranges.map(([s, e]) => ({ startKey: b(s), endKey: b(e) })),
        }),
        region && { start: b(region.start), end: b(region.end) },
      ),
  };
  return { engine, clock, r };
}

/** Pairs as [key, value] latin1 strings, for compact assertions. */
export const kv = (pairs: KvPair[]): [string, string][] =>
  pairs.map((p) => [p.key.toString("latin1"), p.value.toString("latin1")]);

/** Keys only. */
export const keysOf = (pairs: KvPair[]): string[] => pairs.map((p) => p.key.toString("latin1"));
