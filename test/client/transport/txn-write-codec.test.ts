// The hand-written Prewrite / Commit encoders (src/rpc/txn-write-codec.ts) write exactly the
// bytes of the generated encoder, alone and inside a BatchCommands message with a shared
// (frozen) context, an own context or none; what they do not write falls back to it.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CommitRequest,
  Context,
  PrewriteRequest,
  PrewriteRequest_ForUpdateTSConstraint,
} from "../../../src/proto/kvrpcpb.js";
import { BatchCommandsRequest, BatchCommandsRequest_Request } from "../../../src/proto/tikvpb.js";
import { encodeBatchRequest } from "../../../src/rpc/batch-codec.js";
import type { TikvCommand } from "../../../src/rpc/tikv-commands.js";
import { encodeCommitNoContext, encodePrewriteNoContext } from "../../../src/rpc/txn-write-codec.js";

const bytes = (max = 24) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
// timestamps: small, around the 2^32 / 2^53 boundaries, and any uint64
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, (1n << 32n) - 1n, 1n << 32n, 1n << 53n, (1n << 64n) - 1n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const enumOf = (max: number) => fc.integer({ min: 0, max });

const prewrite = fc
  .record({
    mutations: fc.array(fc.record({ op: enumOf(7), key: bytes(), value: bytes(), assertion: enumOf(2) }), {
      maxLength: 6,
    }),
    primaryLock: bytes(),
    startVersion: u64,
    lockTtl: u64,
    skipConstraintCheck: fc.boolean(),
    pessimisticActions: fc.array(enumOf(2), { maxLength: 6 }),
    txnSize: u64,
    forUpdateTs: u64,
    minCommitTs: u64,
    useAsyncCommit: fc.boolean(),
    secondaries: fc.array(bytes(), { maxLength: 4 }),
    tryOnePc: fc.boolean(),
    maxCommitTs: u64,
    assertionLevel: enumOf(2),
  })
  .map((r) => PrewriteRequest.fromPartial(r));

const commit = fc
  .record({
    startVersion: u64,
    keys: fc.array(bytes(), { maxLength: 6 }),
    commitVersion: u64,
    commitRole: enumOf(2),
    primaryKey: bytes(),
    useAsyncCommit: fc.boolean(),
    isTxnFile: fc.boolean(),
  })
  .map((r) => CommitRequest.fromPartial(r));

const context = fc
  .record({ regionId: u64, requestSource: fc.string({ maxLength: 8 }), isRetryRequest: fc.boolean() })
  .chain((c) =>
    fc.constantFrom(undefined, Context.fromPartial(c), Object.freeze(Context.fromPartial(c)) as Context),
  );

// the generated encoding of one BatchCommands Request
function generated(cmd: "Prewrite" | "Commit", req: PrewriteRequest | CommitRequest): Buffer {
  return Buffer.from(
    BatchCommandsRequest_Request.encode({
      cmd: { $case: cmd, [cmd]: req } as BatchCommandsRequest_Request["cmd"],
    }).finish(),
  );
}

describe("hand-written Prewrite / Commit encoders", () => {
  it("write a Prewrite Request exactly as the generated encoder", () => {
    fc.assert(
      fc.property(prewrite, (req) => {
        expect(encodePrewriteNoContext(req)?.equals(generated("Prewrite", req))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("write a Commit Request exactly as the generated encoder", () => {
    fc.assert(
      fc.property(commit, (req) => {
        expect(encodeCommitNoContext(req)?.equals(generated("Commit", req))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("leave what they do not write to the generated encoder", () => {
    const base = PrewriteRequest.fromPartial({ startVersion: 5n, mutations: [{ key: Buffer.from("k") }] });
    const constraint = PrewriteRequest_ForUpdateTSConstraint.fromPartial({
      index: 0,
      expectedForUpdateTs: 9n,
    });
    expect(encodePrewriteNoContext({ ...base, forUpdateTsConstraints: [constraint] })).toBeUndefined();
    expect(encodePrewriteNoContext({ ...base, txnFileChunks: [1n] })).toBeUndefined();
    expect(encodePrewriteNoContext({ ...base, lockTtl: 1n << 64n })).toBeUndefined();
    expect(encodePrewriteNoContext({ ...base, assertionLevel: -1 })).toBeUndefined();
    expect(encodeCommitNoContext(CommitRequest.fromPartial({ startVersion: -1n }))).toBeUndefined();
    // ...and the batch still carries them, as the generated encoder writes them
    const req = { ...base, forUpdateTsConstraints: [constraint] };
    const ours = encodeBatchRequest({ cmds: ["Prewrite"], reqs: [req], ids: [1] });
    const theirs = BatchCommandsRequest.encode({
      requests: [{ cmd: { $case: "Prewrite", Prewrite: req } }],
      requestIds: [1n],
      clientSendTimeNs: 0n,
    }).finish();
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });

  it("give the generated BatchCommands bytes with any context, among other requests", () => {
    const entry = fc.oneof(
      fc
        .tuple(prewrite, context)
        .map(([r, c]) => ({ cmd: "Prewrite" as TikvCommand, req: { ...r, context: c } as unknown })),
      fc
        .tuple(commit, context)
        .map(([r, c]) => ({ cmd: "Commit" as TikvCommand, req: { ...r, context: c } as unknown })),
    );
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 5 }), (entries) => {
        const ids = entries.map((_, i) => i + 1);
        const ours = encodeBatchRequest({
          cmds: entries.map((e) => e.cmd),
          reqs: entries.map((e) => e.req),
          ids,
        });
        const theirs = BatchCommandsRequest.encode({
          requests: entries.map(
            (e) => ({ cmd: { $case: e.cmd, [e.cmd]: e.req } }) as unknown as BatchCommandsRequest_Request,
          ),
          requestIds: ids.map(BigInt),
          clientSendTimeNs: 0n,
        }).finish();
        expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
