// Ports the request/response parts of client-go internal/apicodec/codec_v2_test.go and
// codec_test.go (by meaning) to src/kv/message-codec.ts and src/kv/request-codec.ts.
import { describe, expect, it } from "vitest";
import { KeyDecodeError, KeyOutOfKeyspaceError } from "../../src/errors/index.js";
import { ApiV1Codec } from "../../src/kv/api-codec.js";
import { KeyspaceCodec } from "../../src/kv/keyspace.js";
import { encodeBytes } from "../../src/kv/memcomparable.js";
import {
  decodeKeyError,
  decodeMvccInfo,
  decodeRegionError,
  encodeMutations,
} from "../../src/kv/message-codec.js";
import { decodeResponse, encodeRequest } from "../../src/kv/request-codec.js";
import { Error as RegionErrorPb } from "../../src/proto/errorpb.js";
import * as kv from "../../src/proto/kvrpcpb.js";
import { Region } from "../../src/proto/metapb.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
const s = (x: string) => Buffer.from(x);
const R = 0x72;
const ksPrefix = b(R, 0, 16, 146);
const ksEnd = b(R, 0, 16, 147);
const beforePrefix = b(R, 0, 0, 1);
const afterEndKey = b(R, 1, 0, 0);
const insideLeft = b(R, 0, 16, 146, 100);
const insideRight = b(R, 0, 16, 146, 200);

const codec = new KeyspaceCodec({ mode: "raw", keyspaceId: 4242 });
const enc = (k: string) => codec.encodeKey(s(k));

describe("encodeRequest (TestEncodeRequest)", () => {
  it("RawGet key gets the prefix", () => {
    const req = kv.RawGetRequest.fromPartial({ key: s("key") });
    expect(encodeRequest(codec, "RawGet", req).key).toEqual(enc("key"));
    expect(req.key).toEqual(s("key")); // input untouched (requests are reused on retry)
  });

  it("Commit without primary key keeps it empty; with one encodes it", () => {
    const noPrimary = encodeRequest(
      codec,
      "KvCommit",
      kv.CommitRequest.fromPartial({ keys: [s("key1"), s("key2")] }),
    );
    expect(noPrimary.keys).toEqual([enc("key1"), enc("key2")]);
    expect(noPrimary.primaryKey.length).toBe(0);
    const withPrimary = encodeRequest(
      codec,
      "KvCommit",
      kv.CommitRequest.fromPartial({ keys: [s("key1"), s("key2")], primaryKey: s("key1") }),
    );
    expect(withPrimary.primaryKey).toEqual(enc("key1"));
  });

  it("Flush mutations and primary", () => {
    const req = kv.FlushRequest.fromPartial({
      mutations: [
        { op: kv.Op.Put, key: s("key1") },
        { op: kv.Op.Del, key: s("key2") },
      ],
      primaryKey: s("primary"),
    });
    const out = encodeRequest(codec, "KvFlush", req);
    expect(out.mutations.map((m) => m.key)).toEqual([enc("key1"), enc("key2")]);
    expect(out.mutations[1]!.op).toBe(kv.Op.Del);
    expect(out.primaryKey).toEqual(enc("primary"));
    expect(req.mutations[0]!.key).toEqual(s("key1"));
  });

  it("BufferBatchGet keys", () => {
    const out = encodeRequest(
      codec,
      "KvBufferBatchGet",
      kv.BufferBatchGetRequest.fromPartial({ keys: [s("key1"), s("key2")] }),
    );
    expect(out.keys).toEqual([enc("key1"), enc("key2")]);
  });

  it("Flashback / PrepareFlashback: start prefixed, empty end = keyspace end", () => {
    const f = encodeRequest(
      codec,
      "KvFlashbackToVersion",
      kv.FlashbackToVersionRequest.fromPartial({ startKey: s("start") }),
    );
    expect(f.startKey).toEqual(enc("start"));
    expect(f.endKey).toEqual(ksEnd);
    const p = encodeRequest(
      codec,
      "KvPrepareFlashbackToVersion",
      kv.PrepareFlashbackToVersionRequest.fromPartial({ startKey: s("prepare-start") }),
    );
    expect(p.startKey).toEqual(enc("prepare-start"));
    expect(p.endKey).toEqual(ksEnd);
  });

  it("Prewrite, PessimisticLock, CheckTxnStatus, TxnHeartBeat, scans and raw batch requests", () => {
    const pw = encodeRequest(
      codec,
      "KvPrewrite",
      kv.PrewriteRequest.fromPartial({
        mutations: [{ key: s("a") }],
        primaryLock: s("a"),
        secondaries: [s("b")],
      }),
    );
    expect([pw.mutations[0]!.key, pw.primaryLock, pw.secondaries[0]]).toEqual([enc("a"), enc("a"), enc("b")]);
    const pl = encodeRequest(
      codec,
      "KvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({ mutations: [{ key: s("a") }], primaryLock: s("p") }),
    );
    expect([pl.mutations[0]!.key, pl.primaryLock]).toEqual([enc("a"), enc("p")]);
    expect(
      encodeRequest(codec, "KvCheckTxnStatus", kv.CheckTxnStatusRequest.fromPartial({ primaryKey: s("p") }))
        .primaryKey,
    ).toEqual(enc("p"));
    expect(
      encodeRequest(codec, "KvTxnHeartBeat", kv.TxnHeartBeatRequest.fromPartial({ primaryLock: s("p") }))
        .primaryLock,
    ).toEqual(enc("p"));
    const scan = encodeRequest(codec, "KvScan", kv.ScanRequest.fromPartial({ startKey: s("a") }));
    expect([scan.startKey, scan.endKey]).toEqual([enc("a"), ksEnd]);
    const rev = encodeRequest(
      codec,
      "RawScan",
      kv.RawScanRequest.fromPartial({ startKey: s("z"), reverse: true }),
    );
    expect([rev.startKey, rev.endKey]).toEqual([enc("z"), ksPrefix]);
    const put = encodeRequest(
      codec,
      "RawBatchPut",
      kv.RawBatchPutRequest.fromPartial({ pairs: [{ key: s("k"), value: s("v") }] }),
    );
    expect(put.pairs[0]).toMatchObject({ key: enc("k"), value: s("v") });
    const cs = encodeRequest(
      codec,
      "RawChecksum",
      kv.RawChecksumRequest.fromPartial({ ranges: [{ startKey: b(), endKey: b() }] }),
    );
    expect(cs.ranges).toEqual([{ startKey: ksPrefix, endKey: ksEnd }]);
    const safe = encodeRequest(codec, "GetStoreSafeTS", kv.StoreSafeTSRequest.fromPartial({ keyRange: {} }));
    expect(safe.keyRange).toEqual({ startKey: ksPrefix, endKey: ksEnd });
    const split = encodeRequest(
      codec,
      "SplitRegion",
      kv.SplitRegionRequest.fromPartial({ splitKeys: [s("m")] }),
    );
    expect(split.splitKeys).toEqual([enc("m")]);
    expect(split.splitKey.length).toBe(0);
  });

  // TestEncodeUnknownRequest: commands without keys pass through untouched (v1 and v2).
  it("requests without keys and API v1 requests pass through", () => {
    const req = kv.GCRequest.fromPartial({ safePoint: 5n });
    expect(encodeRequest(codec, "KvGC", req)).toBe(req);
    const get = kv.GetRequest.fromPartial({ key: s("k") });
    expect(encodeRequest(new ApiV1Codec("txn"), "KvGet", get)).toBe(get);
    const muts = [kv.Mutation.fromPartial({ key: s("k") })];
    expect(encodeMutations(new ApiV1Codec("txn"), muts)).toBe(muts);
  });
});

describe("decodeRegionError (TestDecodeEpochNotMatch)", () => {
  const mk = (id: number, start: Buffer, end: Buffer) =>
    Region.fromPartial({ id: BigInt(id), startKey: encodeBytes(start), endKey: encodeBytes(end) });

  it("clips regions to the keyspace and drops the ones outside it", () => {
    const err = RegionErrorPb.fromPartial({
      epochNotMatch: {
        currentRegions: [
          mk(1, ksPrefix, ksEnd), // same as keyspace
          mk(2, beforePrefix, afterEndKey), // covers keyspace
          mk(3, beforePrefix, insideLeft), // overlaps the left part
          mk(4, insideLeft, insideRight), // inside
          mk(5, beforePrefix, ksPrefix), // ends where the keyspace starts: dropped
          mk(6, ksEnd, afterEndKey), // starts where it ends: dropped
        ],
      },
    });
    const out = decodeRegionError(codec, err).epochNotMatch!.currentRegions;
    expect(out.map((r) => [Number(r.id), [...r.startKey], [...r.endKey]])).toEqual([
      [1, [], []],
      [2, [], []],
      [3, [], [100]],
      [4, [100], [200]],
    ]);
  });

  it("decodes KeyNotInRegion key and range; malformed boundaries throw", () => {
    const r = codec.encodeRegionRange(s("range-start"), s("range-end"));
    const err = RegionErrorPb.fromPartial({
      keyNotInRegion: { key: enc("region-key"), startKey: r.start, endKey: r.end, regionId: 3n },
    });
    const kn = decodeRegionError(codec, err).keyNotInRegion!;
    expect([kn.key, kn.startKey, kn.endKey]).toEqual([s("region-key"), s("range-start"), s("range-end")]);
    const bad = RegionErrorPb.fromPartial({
      epochNotMatch: { currentRegions: [{ id: 1n, startKey: b(1, 2), endKey: b() }] },
    });
    expect(() => decodeRegionError(codec, bad)).toThrow(KeyDecodeError);
  });

  it("API v1: txn decodes memcomparable boundaries, raw keeps them; nothing is dropped", () => {
    const txn = new ApiV1Codec("txn");
    const err = RegionErrorPb.fromPartial({
      epochNotMatch: { currentRegions: [{ id: 1n, startKey: encodeBytes(s("a")), endKey: b() }] },
      keyNotInRegion: { key: s("k"), startKey: encodeBytes(s("a")), endKey: encodeBytes(s("z")) },
    });
    decodeRegionError(txn, err);
    expect(err.epochNotMatch!.currentRegions[0]).toMatchObject({ startKey: s("a"), endKey: b() });
    expect(err.keyNotInRegion).toMatchObject({ key: s("k"), startKey: s("a"), endKey: s("z") });
    const raw = new ApiV1Codec("raw");
    const rawErr = RegionErrorPb.fromPartial({
      epochNotMatch: { currentRegions: [{ id: 1n, startKey: s("a"), endKey: s("b") }] },
    });
    decodeRegionError(raw, rawErr);
    expect(rawErr.epochNotMatch!.currentRegions[0]).toMatchObject({ startKey: s("a"), endKey: s("b") });
  });
});

describe("decodeKeyError (TestDecodeKeyError)", () => {
  it("TxnLockNotFound", () => {
    const e = decodeKeyError(codec, kv.KeyError.fromPartial({ txnLockNotFound: { key: enc("key1") } }));
    expect(e.txnLockNotFound!.key).toEqual(s("key1"));
  });

  it("Locked with nested shared lock infos", () => {
    const e = decodeKeyError(
      codec,
      kv.KeyError.fromPartial({
        locked: {
          key: enc("outer-key"),
          primaryLock: enc("outer-primary"),
          secondaries: [enc("outer-secondary")],
          lockType: kv.Op.SharedLock,
          sharedLockInfos: [
            {
              key: enc("inner-key"),
              primaryLock: enc("inner-primary"),
              secondaries: [enc("inner-secondary")],
              lockType: kv.Op.Lock,
            },
          ],
        },
      }),
    );
    expect([e.locked!.key, e.locked!.primaryLock, e.locked!.secondaries]).toEqual([
      s("outer-key"),
      s("outer-primary"),
      [s("outer-secondary")],
    ]);
    const inner = e.locked!.sharedLockInfos[0]!;
    expect([inner.key, inner.primaryLock, inner.secondaries]).toEqual([
      s("inner-key"),
      s("inner-primary"),
      [s("inner-secondary")],
    ]);
  });

  it("PrimaryMismatch lock info", () => {
    const e = decodeKeyError(
      codec,
      kv.KeyError.fromPartial({
        primaryMismatch: {
          lockInfo: {
            key: enc("mismatch-key"),
            primaryLock: enc("mismatch-primary"),
            secondaries: [enc("mismatch-secondary")],
          },
        },
      }),
    );
    const l = e.primaryMismatch!.lockInfo!;
    expect([l.key, l.primaryLock, l.secondaries]).toEqual([
      s("mismatch-key"),
      s("mismatch-primary"),
      [s("mismatch-secondary")],
    ]);
  });

  it("Deadlock keys and wait chain", () => {
    const e = decodeKeyError(
      codec,
      kv.KeyError.fromPartial({
        deadlock: {
          lockKey: enc("lock-key"),
          deadlockKey: enc("deadlock-key"),
          waitChain: [{ key: enc("wait-key") }],
        },
      }),
    );
    expect([e.deadlock!.lockKey, e.deadlock!.deadlockKey, e.deadlock!.waitChain[0]!.key]).toEqual([
      s("lock-key"),
      s("deadlock-key"),
      s("wait-key"),
    ]);
  });

  it("MVCC debug info", () => {
    const e = decodeKeyError(
      codec,
      kv.KeyError.fromPartial({
        txnLockNotFound: { key: enc("key1") },
        debugInfo: {
          mvccInfo: [
            {
              key: enc("key1"),
              mvcc: {
                lock: {
                  primary: enc("debug-primary"),
                  secondaries: [enc("debug-secondary-1"), enc("debug-secondary-2")],
                },
              },
            },
          ],
        },
      }),
    );
    const m = e.debugInfo!.mvccInfo[0]!;
    expect([m.key, m.mvcc!.lock!.primary, m.mvcc!.lock!.secondaries]).toEqual([
      s("key1"),
      s("debug-primary"),
      [s("debug-secondary-1"), s("debug-secondary-2")],
    ]);
  });

  it("conflict, already-exist, commit-ts-expired, txn-not-found, assertion and shared-lock kinds", () => {
    const e = decodeKeyError(
      codec,
      kv.KeyError.fromPartial({
        conflict: { key: enc("c"), primary: enc("p") },
        alreadyExist: { key: enc("x") },
        commitTsExpired: { key: enc("e") },
        txnNotFound: { primaryKey: enc("n") },
        assertionFailed: { key: enc("a") },
        lockUpgradeConflict: { key: enc("u") },
        sharedLockLost: { key: enc("l") },
      }),
    );
    expect([
      e.conflict!.key,
      e.conflict!.primary,
      e.alreadyExist!.key,
      e.commitTsExpired!.key,
      e.txnNotFound!.primaryKey,
      e.assertionFailed!.key,
      e.lockUpgradeConflict!.key,
      e.sharedLockLost!.key,
    ]).toEqual(["c", "p", "x", "e", "n", "a", "u", "l"].map(s));
  });

  it("keys of another keyspace are an error", () => {
    expect(() =>
      decodeKeyError(codec, kv.KeyError.fromPartial({ alreadyExist: { key: s("plain") } })),
    ).toThrow(KeyOutOfKeyspaceError);
  });

  it("API v1 leaves key errors alone", () => {
    const ke = kv.KeyError.fromPartial({ alreadyExist: { key: s("plain") } });
    expect(decodeKeyError(new ApiV1Codec("txn"), ke).alreadyExist!.key).toEqual(s("plain"));
  });
});

// TestDecodeMvccInfoPreservesEmptyLockKeys
it("decodeMvccInfo keeps empty lock keys empty", () => {
  const info = kv.MvccInfo.fromPartial({ lock: { primary: b(), secondaries: [b(), enc("mvcc-secondary")] } });
  const out = decodeMvccInfo(codec, info)!;
  expect(out).toBe(info);
  expect(out.lock!.primary).toEqual(b());
  expect(out.lock!.secondaries).toEqual([b(), s("mvcc-secondary")]);
});

describe("decodeResponse", () => {
  const regionError = () => {
    const r = codec.encodeRegionRange(s("range-start"), s("range-end"));
    return RegionErrorPb.fromPartial({
      keyNotInRegion: { key: enc("region-key"), startKey: r.start, endKey: r.end },
    });
  };
  const checkRegionError = (e: RegionErrorPb | undefined) =>
    expect([e!.keyNotInRegion!.key, e!.keyNotInRegion!.startKey, e!.keyNotInRegion!.endKey]).toEqual([
      s("region-key"),
      s("range-start"),
      s("range-end"),
    ]);

  // TestDecodeResponseHotPathCommands
  it("Flush: region error and key errors", () => {
    const resp = decodeResponse(
      codec,
      "KvFlush",
      kv.FlushResponse.fromPartial({
        regionError: regionError(),
        errors: [{ txnLockNotFound: { key: enc("lock-key") } }],
      }),
    );
    checkRegionError(resp.regionError);
    expect(resp.errors[0]!.txnLockNotFound!.key).toEqual(s("lock-key"));
  });

  it("BufferBatchGet: region error, key error, pair keys and pair errors", () => {
    const resp = decodeResponse(
      codec,
      "KvBufferBatchGet",
      kv.BufferBatchGetResponse.fromPartial({
        regionError: regionError(),
        error: { txnLockNotFound: { key: enc("response-lock") } },
        pairs: [{ key: enc("pair-key"), error: { txnLockNotFound: { key: enc("pair-lock") } } }],
      }),
    );
    checkRegionError(resp.regionError);
    expect(resp.error!.txnLockNotFound!.key).toEqual(s("response-lock"));
    expect(resp.pairs[0]!.key).toEqual(s("pair-key"));
    expect(resp.pairs[0]!.error!.txnLockNotFound!.key).toEqual(s("pair-lock"));
  });

  // TestDecodeResponseSecondWaveCommands
  it("GetLockWaitInfo entries", () => {
    const resp = decodeResponse(
      codec,
      "GetLockWaitInfo",
      kv.GetLockWaitInfoResponse.fromPartial({
        regionError: regionError(),
        entries: [{ key: enc("wait-key") }],
      }),
    );
    checkRegionError(resp.regionError);
    expect(resp.entries[0]!.key).toEqual(s("wait-key"));
  });

  it("MvccGetByStartTs key and info; MvccGetByKey info", () => {
    const byTs = decodeResponse(
      codec,
      "MvccGetByStartTs",
      kv.MvccGetByStartTsResponse.fromPartial({
        regionError: regionError(),
        key: enc("mvcc-key"),
        info: {
          lock: {
            primary: enc("mvcc-primary"),
            secondaries: [enc("mvcc-secondary-1"), enc("mvcc-secondary-2")],
          },
        },
      }),
    );
    checkRegionError(byTs.regionError);
    expect(byTs.key).toEqual(s("mvcc-key"));
    expect(byTs.info!.lock!.primary).toEqual(s("mvcc-primary"));
    expect(byTs.info!.lock!.secondaries).toEqual([s("mvcc-secondary-1"), s("mvcc-secondary-2")]);
    const byKey = decodeResponse(
      codec,
      "MvccGetByKey",
      kv.MvccGetByKeyResponse.fromPartial({
        regionError: regionError(),
        info: { lock: { primary: enc("p"), secondaries: [enc("q")] } },
      }),
    );
    checkRegionError(byKey.regionError);
    expect([byKey.info!.lock!.primary, byKey.info!.lock!.secondaries]).toEqual([s("p"), [s("q")]]);
  });

  it("Flashback responses: region error", () => {
    checkRegionError(
      decodeResponse(
        codec,
        "KvFlashbackToVersion",
        kv.FlashbackToVersionResponse.fromPartial({ regionError: regionError() }),
      ).regionError,
    );
    checkRegionError(
      decodeResponse(
        codec,
        "KvPrepareFlashbackToVersion",
        kv.PrepareFlashbackToVersionResponse.fromPartial({ regionError: regionError() }),
      ).regionError,
    );
  });

  it("scan pairs, raw scan kvs, lock infos, split regions; string errors are ignored", () => {
    const scan = decodeResponse(
      codec,
      "KvScan",
      kv.ScanResponse.fromPartial({ pairs: [{ key: enc("a"), value: s("1") }] }),
    );
    expect(scan.pairs[0]).toMatchObject({ key: s("a"), value: s("1") });
    const raw = decodeResponse(
      codec,
      "RawScan",
      kv.RawScanResponse.fromPartial({ kvs: [{ key: enc("b") }] }),
    );
    expect(raw.kvs[0]!.key).toEqual(s("b"));
    const st = decodeResponse(
      codec,
      "KvCheckTxnStatus",
      kv.CheckTxnStatusResponse.fromPartial({ lockInfo: { key: enc("k"), primaryLock: enc("p") } }),
    );
    expect([st.lockInfo!.key, st.lockInfo!.primaryLock]).toEqual([s("k"), s("p")]);
    const sl = decodeResponse(
      codec,
      "KvScanLock",
      kv.ScanLockResponse.fromPartial({ locks: [{ key: enc("l"), primaryLock: enc("p") }] }),
    );
    expect(sl.locks[0]!.key).toEqual(s("l"));
    const r = codec.encodeRegionRange(s("a"), s("m"));
    const split = decodeResponse(
      codec,
      "SplitRegion",
      kv.SplitRegionResponse.fromPartial({ regions: [{ id: 1n, startKey: r.start, endKey: r.end }] }),
    );
    expect(split.regions[0]).toMatchObject({ startKey: s("a"), endKey: s("m") });
    const dr = decodeResponse(codec, "KvDeleteRange", kv.DeleteRangeResponse.fromPartial({ error: "boom" }));
    expect(dr.error).toBe("boom");
  });

  it("API v1 only touches region errors", () => {
    const v1 = new ApiV1Codec("txn");
    const resp = kv.GetResponse.fromPartial({
      regionError: {
        epochNotMatch: { currentRegions: [{ id: 1n, startKey: encodeBytes(s("a")), endKey: b() }] },
      },
      error: { locked: { key: s("k") } },
    });
    decodeResponse(v1, "KvGet", resp);
    expect(resp.regionError!.epochNotMatch!.currentRegions[0]!.startKey).toEqual(s("a"));
    expect(resp.error!.locked!.key).toEqual(s("k"));
  });
});
