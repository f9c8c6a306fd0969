// RawScan and Scan responses are decoded by hand out of the BatchCommands frame
// (src/rpc/batch-codec.ts): the objects must equal the generated ts-proto decoder's, keys and
// values must not pin other responses of the frame, and oddities (region errors, pair errors,
// malformed bodies, look-alike tags) must come out as the generated decoder has them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Error as RegionError } from "../../../src/proto/errorpb.js";
import {
  FlashbackToVersionResponse,
  KeyError,
  RawGetResponse,
  RawScanResponse,
  ScanResponse,
} from "../../../src/proto/kvrpcpb.js";
import { BatchCommandsResponse, type BatchCommandsResponse_Response } from "../../../src/proto/tikvpb.js";
import { decodeBatchResponse, finishBody } from "../../../src/rpc/batch-codec.js";

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const pair = fc.record({
  error: fc.option(
    fc
      .record({ abort: fc.string({ maxLength: 8 }), retryable: fc.string({ maxLength: 8 }) })
      .map((e) => KeyError.fromPartial(e)),
    { nil: undefined, freq: 20 },
  ),
  key: bytes(40),
  // mostly small values, empty ones (key-only scans), now and then one past a 2-byte varint
  value: fc.oneof(
    { arbitrary: bytes(100), weight: 20 },
    { arbitrary: fc.constant(Buffer.alloc(0)), weight: 5 },
    { arbitrary: fc.integer({ min: 16_384, max: 17_000 }).map((n) => Buffer.alloc(n, n & 0xff)), weight: 1 },
  ),
  commitTs: fc.oneof(fc.constant(0n), u64),
});
const pairs = fc.oneof(
  { arbitrary: fc.array(pair, { maxLength: 8 }), weight: 25 },
  { arbitrary: fc.array(pair, { minLength: 100, maxLength: 1_000 }), weight: 1 },
);
const regionError = fc.option(
  fc.record({ message: fc.string({ maxLength: 20 }) }).map((e) => RegionError.fromPartial(e)),
  { nil: undefined, freq: 5 },
);
const scanResponse: fc.Arbitrary<BatchCommandsResponse_Response> = fc.oneof(
  fc.record({ regionError, kvs: pairs }).map(
    (r) =>
      ({
        cmd: { $case: "RawScan", RawScan: RawScanResponse.fromPartial(r) },
      }) as BatchCommandsResponse_Response,
  ),
  fc
    .record({
      regionError,
      pairs,
      error: fc.option(
        fc.record({ retryable: fc.string({ maxLength: 8 }) }).map((e) => KeyError.fromPartial(e)),
        { nil: undefined, freq: 5 },
      ),
    })
    .map(
      (r) =>
        ({ cmd: { $case: "Scan", Scan: ScanResponse.fromPartial(r) } }) as BatchCommandsResponse_Response,
    ),
);
// another response beside the scans, so a scan is not always its frame's only response
const rawGet = bytes(300).map(
  (value) =>
    ({
      cmd: { $case: "RawGet", RawGet: RawGetResponse.fromPartial({ value }) },
    }) as BatchCommandsResponse_Response,
);

function frame(responses: BatchCommandsResponse_Response[]): Buffer {
  return Buffer.from(
    BatchCommandsResponse.encode(
      BatchCommandsResponse.fromPartial({ responses, requestIds: responses.map((_, i) => BigInt(i + 1)) }),
    ).finish(),
  );
}

function referenceBodies(wire: Buffer): unknown[] {
  return BatchCommandsResponse.decode(wire).responses.map((r) =>
    r.cmd ? (r.cmd as unknown as Record<string, unknown>)[r.cmd.$case] : undefined,
  );
}

function ourBodies(wire: Buffer): unknown[] {
  return decodeBatchResponse(wire).bodies.map((b) => finishBody(b, undefined));
}

type Pairs = Array<{ key: Buffer; value: Buffer }>;
const pairsOf = (body: unknown): Pairs => {
  const b = body as { kvs?: Pairs; pairs?: Pairs };
  return (b.kvs ?? b.pairs) as Pairs;
};

describe("hand-written RawScan / Scan response decoding", () => {
  it("builds the objects the generated decoder builds", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(scanResponse, rawGet), { minLength: 1, maxLength: 4 }), (responses) => {
        const wire = frame(responses);
        const batch = decodeBatchResponse(wire);
        expect(batch.cases).toEqual(responses.map((r) => r.cmd?.$case));
        expect(batch.bodies.map((b) => finishBody(b, undefined))).toEqual(referenceBodies(wire));
      }),
      { numRuns: 100 },
    );
  });

  it("copies a small scan out of a shared frame once, and reads a scan alone in its frame in place", () => {
    const kvs = (tag: number) =>
      Array.from({ length: 20 }, (_, i) => ({ key: Buffer.from([tag, i]), value: Buffer.alloc(200, tag) }));
    const raw = (tag: number) =>
      ({
        cmd: { $case: "RawScan", RawScan: RawScanResponse.fromPartial({ kvs: kvs(tag) }) },
      }) as BatchCommandsResponse_Response;
    const txn = (tag: number) =>
      ({
        cmd: { $case: "Scan", Scan: ScanResponse.fromPartial({ pairs: kvs(tag) }) },
      }) as BatchCommandsResponse_Response;

    const shared = frame([raw(1), txn(2), raw(3), txn(4)]);
    const copied = ourBodies(shared).flatMap(pairsOf);
    expect(copied).toHaveLength(80);
    for (const p of copied) {
      expect(p.key.buffer).not.toBe(shared.buffer);
      expect(p.value.buffer).not.toBe(shared.buffer);
    }
    // each response's pairs share one copy of that response (one allocation per response)
    const [first, second] = ourBodies(shared).map(pairsOf);
    expect(first?.[0]?.value.buffer).toBe(first?.[19]?.value.buffer);
    expect(first?.[0]?.value.buffer).not.toBe(second?.[0]?.value.buffer);

    const alone = frame([raw(5)]);
    const views = ourBodies(alone).flatMap(pairsOf);
    expect(views).toHaveLength(20);
    for (const p of views) {
      expect(p.value.buffer).toBe(alone.buffer);
      expect(p.value).toEqual(Buffer.alloc(200, 5));
    }
  });

  it("keeps a region error and pair errors as the generated decoder has them", () => {
    const regionErr = RegionError.fromPartial({ message: "stale", notLeader: { regionId: 7n } });
    const keyErr = KeyError.fromPartial({ abort: "deadline exceeded" });
    const wire = frame([
      { cmd: { $case: "RawScan", RawScan: RawScanResponse.fromPartial({ regionError: regionErr }) } },
      {
        cmd: {
          $case: "RawScan",
          RawScan: RawScanResponse.fromPartial({
            kvs: [{ key: Buffer.from("k"), value: Buffer.from("v") }, { error: keyErr }],
          }),
        },
      },
      {
        cmd: {
          $case: "Scan",
          Scan: ScanResponse.fromPartial({
            regionError: regionErr,
            error: KeyError.fromPartial({ retryable: "r" }),
          }),
        },
      },
    ] as BatchCommandsResponse_Response[]);
    const ours = ourBodies(wire) as [RawScanResponse, RawScanResponse, ScanResponse];
    expect(ours).toEqual(referenceBodies(wire));
    expect(ours[0].regionError?.notLeader?.regionId).toBe(7n);
    expect(ours[0].kvs).toEqual([]);
    expect(ours[1].kvs[1]?.error?.abort).toBe("deadline exceeded");
    expect(ours[1].kvs[1]?.key).toEqual(Buffer.alloc(0));
    expect(ours[2].error?.retryable).toBe("r");
  });

  it("leaves a field whose tag only starts like raw_scan's to the generated decoder", () => {
    // FlashbackToVersion is field 35: its tag is 154, 2 (raw_scan's is 154, 1)
    const wire = frame([
      {
        cmd: {
          $case: "FlashbackToVersion",
          FlashbackToVersion: FlashbackToVersionResponse.fromPartial({ error: "no" }),
        },
      } as BatchCommandsResponse_Response,
    ]);
    expect(wire.subarray(2, 4)).toEqual(Buffer.from([154, 2]));
    const batch = decodeBatchResponse(wire);
    expect(batch.cases).toEqual(["FlashbackToVersion"]);
    expect(ourBodies(wire)).toEqual(referenceBodies(wire));
  });

  it("reports a malformed scan body when it is built, not while routing the frame", () => {
    // responses[0] = raw_scan { kvs { key: <10 bytes announced, 3 present> } }, request_ids = [1]
    const wire = Buffer.from([10, 10, 154, 1, 7, 18, 5, 18, 10, 1, 2, 3, 16, 1]);
    const batch = decodeBatchResponse(wire);
    expect(batch.ids).toEqual([1]);
    expect(batch.cases).toEqual(["RawScan"]);
    expect(() => finishBody(batch.bodies[0], undefined)).toThrow(RangeError);
  });
});
