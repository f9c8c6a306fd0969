// The hand-written BatchCommands codec (src/rpc/batch-codec.ts) must be byte-for-byte the
// generated ts-proto codec: it is checked here against it on random batches.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Error as RegionError } from "../../../src/proto/errorpb.js";
import {
  BatchGetRequest,
  BatchGetResponse,
  Context,
  GetRequest,
  KeyError,
  RawBatchGetRequest,
  RawBatchGetResponse,
  RawBatchPutRequest,
  RawGetRequest,
  RawGetResponse,
  RawPutRequest,
  RawPutResponse,
} from "../../../src/proto/kvrpcpb.js";
import {
  BatchCommandsRequest,
  type BatchCommandsRequest_Request,
  BatchCommandsResponse,
  type BatchCommandsResponse_Response,
} from "../../../src/proto/tikvpb.js";
import { decodeBatchResponse, encodeBatchRequest, finishBody } from "../../../src/rpc/batch-codec.js";
import type { TikvCommand } from "../../../src/rpc/tikv-commands.js";

const bytes = (max = 40) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const context = fc
  .record({
    regionId: u64,
    regionEpoch: fc.option(fc.record({ confVer: u64, version: u64 }), { nil: undefined }),
    peer: fc.option(fc.record({ id: u64, storeId: u64, role: fc.constantFrom(0, 1) }), { nil: undefined }),
    apiVersion: fc.constantFrom(0, 1, 2),
    requestSource: fc.string({ maxLength: 12 }),
    isRetryRequest: fc.boolean(),
    resolvedLocks: fc.array(u64, { maxLength: 3 }),
  })
  .chain((c) =>
    fc.boolean().map((freeze) => (freeze ? Object.freeze(Context.fromPartial(c)) : Context.fromPartial(c))),
  );
const optContext = fc.option(context, { nil: undefined });

type Entry = { cmd: TikvCommand; req: unknown };
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ context: optContext, key: bytes(), cf: fc.string({ maxLength: 8 }) }).map((r) => ({
    cmd: "RawGet" as const,
    req: RawGetRequest.fromPartial(r),
  })),
  fc
    .record({
      context: optContext,
      key: bytes(),
      value: bytes(20_000),
      cf: fc.string({ maxLength: 8 }),
      ttl: u64,
      forCas: fc.boolean(),
    })
    .map((r) => ({ cmd: "RawPut" as const, req: RawPutRequest.fromPartial(r) })),
  fc.record({ context: optContext, key: bytes(), version: u64 }).map((r) => ({
    cmd: "Get" as const,
    req: GetRequest.fromPartial(r),
  })),
  fc
    .record({
      context: optContext,
      keys: fc.array(bytes(), { maxLength: 6 }),
      // timestamps are beyond 2^53; 0 and small versions take the short varints
      version: fc.oneof(u64, fc.constantFrom(0n, 1n, 127n, 128n, (1n << 32n) - 1n, 1n << 32n)),
      needCommitTs: fc.boolean(),
    })
    .map((r) => ({ cmd: "BatchGet" as const, req: BatchGetRequest.fromPartial(r) })),
  fc
    .record({
      context: optContext,
      keys: fc.array(bytes(), { maxLength: 6 }),
      cf: fc.string({ maxLength: 8 }),
    })
    .map((r) => ({ cmd: "RawBatchGet" as const, req: RawBatchGetRequest.fromPartial(r) })),
  fc
    .record({
      context: optContext,
      pairs: fc.array(
        fc.record({
          key: bytes(),
          value: bytes(300),
          // mostly 0 / none (the hand-written path); otherwise the generated encoder's
          commitTs: fc.oneof({ arbitrary: fc.constant(0n), weight: 30 }, { arbitrary: u64, weight: 1 }),
          error: fc.option(fc.constant(KeyError.fromPartial({ abort: "a" })), { nil: undefined, freq: 30 }),
        }),
        { maxLength: 5 },
      ),
      cf: fc.string({ maxLength: 8 }),
      ttl: fc.oneof(
        { arbitrary: fc.constant(0n), weight: 5 },
        { arbitrary: fc.bigInt({ min: 0n, max: 1n << 53n }), weight: 5 },
        { arbitrary: u64, weight: 1 },
      ),
      forCas: fc.boolean(),
      ttls: fc.array(
        fc.oneof(
          { arbitrary: fc.bigInt({ min: 0n, max: 1n << 53n }), weight: 20 },
          { arbitrary: u64, weight: 1 },
        ),
        { maxLength: 4 },
      ),
    })
    .map((r) => ({ cmd: "RawBatchPut" as const, req: RawBatchPutRequest.fromPartial(r) })),
);
const ids = (n: number) =>
  fc.array(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: n, maxLength: n });

describe("hand-written BatchCommands codec", () => {
  it("encodes requests to exactly the bytes the generated encoder writes", () => {
    fc.assert(
      fc.property(
        fc
          .array(entry, { minLength: 1, maxLength: 8 })
          .chain((es) => ids(es.length).map((is) => [es, is] as const)),
        ([entries, requestIds]) => {
          const ours = encodeBatchRequest({
            cmds: entries.map((e) => e.cmd),
            reqs: entries.map((e) => e.req),
            ids: requestIds,
          });
          const theirs = BatchCommandsRequest.encode({
            requests: entries.map(
              (e) => ({ cmd: { $case: e.cmd, [e.cmd]: e.req } }) as unknown as BatchCommandsRequest_Request,
            ),
            requestIds: requestIds.map(BigInt),
            clientSendTimeNs: 0n,
          }).finish();
          expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  const regionError = fc.option(
    fc.record({ message: fc.string({ maxLength: 20 }) }).map((e) => RegionError.fromPartial(e)),
    { nil: undefined },
  );
  const response: fc.Arbitrary<BatchCommandsResponse_Response> = fc.oneof(
    fc
      .record({ regionError, error: fc.string({ maxLength: 10 }), value: bytes(100), notFound: fc.boolean() })
      .map(
        (r) =>
          ({
            cmd: { $case: "RawGet", RawGet: RawGetResponse.fromPartial(r) },
          }) as BatchCommandsResponse_Response,
      ),
    fc.record({ regionError, error: fc.string({ maxLength: 10 }) }).map(
      (r) =>
        ({
          cmd: { $case: "RawPut", RawPut: RawPutResponse.fromPartial(r) },
        }) as BatchCommandsResponse_Response,
    ),
    fc
      .record({
        regionError,
        pairs: fc.array(
          fc.record({
            error: fc.option(
              fc.record({ retryable: fc.string({ maxLength: 8 }) }).map((e) => KeyError.fromPartial(e)),
              { nil: undefined },
            ),
            key: bytes(),
            value: bytes(100),
            commitTs: u64,
          }),
          { maxLength: 6 },
        ),
      })
      .map(
        (r) =>
          ({
            cmd: { $case: "RawBatchGet", RawBatchGet: RawBatchGetResponse.fromPartial(r) },
          }) as BatchCommandsResponse_Response,
      ),
    fc
      .record({
        regionError,
        pairs: fc.array(
          fc.record({
            error: fc.option(fc.constant(KeyError.fromPartial({ abort: "x" })), { nil: undefined }),
            key: bytes(),
            value: bytes(100),
            commitTs: u64,
          }),
          { maxLength: 6 },
        ),
        execDetailsV2: fc.option(fc.constant({ timeDetail: { waitWallTimeMs: 3n } }), { nil: undefined }),
        error: fc.option(
          fc.record({ retryable: fc.string({ maxLength: 8 }) }).map((e) => KeyError.fromPartial(e)),
          { nil: undefined },
        ),
      })
      .map(
        (r) =>
          ({
            cmd: { $case: "BatchGet", BatchGet: BatchGetResponse.fromPartial(r) },
          }) as BatchCommandsResponse_Response,
      ),
    fc.constant({ cmd: undefined } as BatchCommandsResponse_Response),
  );

  it("decodes responses into the objects the generated decoder builds", () => {
    fc.assert(
      fc.property(
        fc
          .array(response, { minLength: 0, maxLength: 8 })
          .chain((rs) => ids(rs.length).map((is) => [rs, is] as const)),
        fc.option(
          fc.record({ storeId: u64, feedbackSeqNo: u64, slowScore: fc.integer({ min: 0, max: 100 }) }),
          { nil: undefined },
        ),
        ([responses, requestIds], hf) => {
          const wire = Buffer.from(
            BatchCommandsResponse.encode(
              BatchCommandsResponse.fromPartial({
                responses,
                requestIds: requestIds.map(BigInt),
                healthFeedback: hf,
              }),
            ).finish(),
          );
          const reference = BatchCommandsResponse.decode(wire);
          const ours = decodeBatchResponse(wire);
          expect(ours.ids).toEqual(reference.requestIds.map(Number));
          expect(ours.cases).toEqual(reference.responses.map((r) => r.cmd?.$case));
          expect(ours.bodies.map((b) => finishBody(b, undefined))).toEqual(
            reference.responses.map((r) =>
              r.cmd ? (r.cmd as unknown as Record<string, unknown>)[r.cmd.$case] : undefined,
            ),
          );
          expect(ours.healthFeedback).toEqual(reference.healthFeedback);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("gives batch-get values that pin their own response, not the other responses of the frame", () => {
    const pairs = (tag: number) =>
      Array.from({ length: 20 }, (_, i) => ({ key: Buffer.from([tag, i]), value: Buffer.alloc(200, tag) }));
    const wire = (responses: BatchCommandsResponse_Response[]) =>
      Buffer.from(
        BatchCommandsResponse.encode(
          BatchCommandsResponse.fromPartial({ responses, requestIds: responses.map((_, i) => BigInt(i)) }),
        ).finish(),
      );
    const raw = (tag: number) =>
      ({
        cmd: { $case: "RawBatchGet", RawBatchGet: RawBatchGetResponse.fromPartial({ pairs: pairs(tag) }) },
      }) as BatchCommandsResponse_Response;
    const txn = (tag: number) =>
      ({
        cmd: { $case: "BatchGet", BatchGet: BatchGetResponse.fromPartial({ pairs: pairs(tag) }) },
      }) as BatchCommandsResponse_Response;
    const valuesOf = (frame: Buffer) =>
      decodeBatchResponse(frame).bodies.flatMap((b) =>
        (finishBody(b, undefined) as { pairs: Array<{ value: Buffer }> }).pairs.map((p) => p.value),
      );
    // one response among many: its values are copied out of the frame (once per response)
    const shared = wire([raw(1), txn(2), raw(3), txn(4)]);
    const copied = valuesOf(shared);
    expect(copied).toHaveLength(80);
    for (const v of copied) expect(v.buffer).not.toBe(shared.buffer);
    // the frame's only response: its values are views of the frame, with the bytes sent
    const alone = wire([raw(5)]);
    const views = valuesOf(alone);
    for (const v of views) {
      expect(v.buffer).toBe(alone.buffer);
      expect(v).toEqual(Buffer.alloc(200, 5));
    }
  });

  it("reports a malformed batch-get body when it is built, not while routing the frame", () => {
    // responses[0] = raw_batch_get { pairs { key: <10 bytes announced, 3 present> } }, request_ids = [1]
    const frame = Buffer.from([10, 9, 114, 7, 18, 5, 18, 10, 1, 2, 3, 16, 1]);
    const batch = decodeBatchResponse(frame);
    expect(batch.ids).toEqual([1]);
    expect(batch.cases).toEqual(["RawBatchGet"]);
    expect(() => finishBody(batch.bodies[0], { keys: [] })).toThrow(RangeError);
  });

  it("builds batch-get pairs against the keys asked, sharing a key asked at its position", () => {
    const batchGet = fc.oneof(
      ...(["RawBatchGet", "BatchGet"] as const).map((kind) =>
        fc.array(fc.record({ key: bytes(70), value: bytes(30) }), { maxLength: 6 }).chain((pairs) =>
          // the keys asked: each pair's key (a copy), another key, or none (fewer keys than pairs)
          fc
            .array(
              fc.oneof(
                fc.constant(undefined),
                bytes(70),
                ...pairs.map((p) => fc.constant(Buffer.from(p.key))),
              ),
              { maxLength: 7 },
            )
            .map((asked) => ({ kind, pairs, asked: asked.filter((k) => k !== undefined) })),
        ),
      ),
    );
    fc.assert(
      fc.property(batchGet, ({ kind, pairs, asked }) => {
        const body =
          kind === "RawBatchGet"
            ? RawBatchGetResponse.fromPartial({ pairs })
            : BatchGetResponse.fromPartial({ pairs });
        const wire = Buffer.from(
          BatchCommandsResponse.encode(
            BatchCommandsResponse.fromPartial({
              responses: [
                { cmd: { $case: kind, [kind]: body } } as unknown as BatchCommandsResponse_Response,
              ],
              requestIds: [1n],
            }),
          ).finish(),
        );
        const reference = BatchCommandsResponse.decode(wire).responses[0]?.cmd as { [k: string]: unknown };
        const ours = finishBody(decodeBatchResponse(wire).bodies[0], { keys: asked }) as {
          pairs: Array<{ key: Buffer }>;
        };
        expect(ours).toEqual(reference[kind]);
        ours.pairs.forEach((p, i) => {
          const k = asked[i];
          // the key asked is shared exactly when it holds the pair's (non-empty) key
          expect(p.key === k).toBe(k !== undefined && k.length > 0 && k.equals(p.key));
        });
      }),
      { numRuns: 300 },
    );
  });
});
