import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RawEngine } from "../../../src/cluster/engine/raw/raw-engine.js";
import { FaultRegistry } from "../../../src/cluster/faults/index.js";
import { MAX_RESPONSES_PER_MESSAGE } from "../../../src/cluster/tikv/batch-commands.js";
import { MockTikvStore } from "../../../src/cluster/tikv/mock-tikv-store.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import {
  BatchCommandsRequest,
  type BatchCommandsRequest_Request,
  type BatchCommandsResponse,
  type BatchCommandsResponse_Response,
  type TikvClient,
} from "../../../src/proto/tikvpb.js";
import { b, ctx, type EngineCall, FakeTopology, newClient, recordingTxnEngine } from "./helpers.js";

const topology = new FakeTopology().add({
  id: 1,
  peers: [
    [11, 1],
    [12, 2],
  ],
  leader: 11,
  safeTs: 10n,
});
const calls: EngineCall[] = [];
const faults = new FaultRegistry();
const store = new MockTikvStore({
  storeId: 1,
  topology,
  txn: recordingTxnEngine(calls),
  raw: new RawEngine(),
  faults,
  clusterId: 5n,
});
let client: TikvClient;

beforeAll(async () => {
  await store.start();
  client = newClient(store.address);
});
afterAll(async () => {
  client.close();
  await store.stop();
});
afterEach(() => {
  faults.clear();
  calls.length = 0;
});

const c = () => ctx(1, 11, 1, 1);

interface Collected {
  messages: BatchCommandsResponse[];
  byId: Map<bigint, BatchCommandsResponse_Response>;
  order: bigint[];
}

/** Sends `batches` over one stream and collects replies until `expected` ids were answered. */
function exchange(
  batches: { ids: bigint[]; reqs: BatchCommandsRequest_Request[] }[],
  expected: number,
): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const stream = client.batchCommands();
    const out: Collected = { messages: [], byId: new Map(), order: [] };
    stream.on("data", (m: BatchCommandsResponse) => {
      out.messages.push(m);
      m.requestIds.forEach((id, i) => {
        if (out.byId.has(id)) reject(new Error(`id ${id} answered twice`));
        out.byId.set(id, m.responses[i] as BatchCommandsResponse_Response);
        out.order.push(id);
      });
      if (out.byId.size >= expected) {
        stream.end();
        resolve(out);
      }
    });
    stream.on("error", reject);
    for (const bt of batches)
      stream.write(BatchCommandsRequest.fromPartial({ requestIds: bt.ids, requests: bt.reqs }));
  });
}

describe("BatchCommands", () => {
  it("answers 1200 concurrent requests sent in 4 messages, each id once, in messages of at most 128", async () => {
    const batches: { ids: bigint[]; reqs: BatchCommandsRequest_Request[] }[] = [];
    let id = 1n;
    for (let m = 0; m < 4; m++) {
      const ids: bigint[] = [];
      const reqs: BatchCommandsRequest_Request[] = [];
      for (let i = 0; i < 300; i++) {
        const n = m * 300 + i;
        ids.push(id++);
        if (n % 3 === 0)
          reqs.push({
            cmd: {
              $case: "RawPut",
              RawPut: kv.RawPutRequest.fromPartial({ context: c(), key: b(`k${n}`), value: b(`v${n}`) }),
            },
          });
        else if (n % 3 === 1)
          reqs.push({
            cmd: {
              $case: "Get",
              Get: kv.GetRequest.fromPartial({ context: c(), key: b(`k${n}`), version: 5n }),
            },
          });
        else reqs.push({ cmd: { $case: "Empty", Empty: { testId: BigInt(n), delayTime: 0n } } });
      }
      batches.push({ ids, reqs });
    }
    const got = await exchange(batches, 1200);
    expect(got.byId.size).toBe(1200);
    for (const m of got.messages) {
      expect(m.responses.length).toBe(m.requestIds.length);
      expect(m.responses.length).toBeLessThanOrEqual(MAX_RESPONSES_PER_MESSAGE);
    }
    for (let n = 0; n < 1200; n++) {
      const r = got.byId.get(BigInt(n + 1))?.cmd;
      if (n % 3 === 0)
        expect(r?.$case === "RawPut" && r.RawPut.error === "" && !r.RawPut.regionError).toBe(true);
      else if (n % 3 === 1) expect(r?.$case === "Get" && r.Get.value.toString()).toBe(`txn:k${n}`);
      else expect(r?.$case === "Empty" && r.Empty.testId).toBe(BigInt(n));
    }
    expect(calls.length).toBe(400);
  });

  it("replies out of order when a request is slow", async () => {
    faults.delay({ rpc: "RawGet", ms: 50, key: "slow" });
    const reqs: BatchCommandsRequest_Request[] = [
      { cmd: { $case: "RawGet", RawGet: kv.RawGetRequest.fromPartial({ context: c(), key: b("slow") }) } },
      { cmd: { $case: "RawGet", RawGet: kv.RawGetRequest.fromPartial({ context: c(), key: b("fast") }) } },
      {
        cmd: {
          $case: "PessimisticLock",
          PessimisticLock: kv.PessimisticLockRequest.fromPartial({
            context: c(),
            mutations: [{ key: b("p") }],
          }),
        },
      },
    ];
    const got = await exchange([{ ids: [10n, 11n, 12n], reqs }], 3);
    expect(got.order).toEqual([11n, 12n, 10n]);
    const lock = got.byId.get(12n)?.cmd;
    expect(lock?.$case === "PessimisticLock" && lock.PessimisticLock.values).toEqual([b("locked")]);
  });

  it("Empty with delay_time >= 10 ms answers later; shorter delays are ignored", async () => {
    const got = await exchange(
      [
        {
          ids: [1n, 2n],
          reqs: [
            { cmd: { $case: "Empty", Empty: { testId: 100n, delayTime: 30n } } },
            { cmd: { $case: "Empty", Empty: { testId: 200n, delayTime: 5n } } },
          ],
        },
      ],
      2,
    );
    expect(got.order).toEqual([2n, 1n]);
    const first = got.byId.get(1n)?.cmd;
    expect(first?.$case === "Empty" && first.Empty.testId).toBe(100n);
  });

  it("a batched GC is never answered; unsupported commands get an empty response", async () => {
    const got = await exchange(
      [
        {
          ids: [1n, 2n, 3n],
          reqs: [
            { cmd: { $case: "GC", GC: kv.GCRequest.fromPartial({ safePoint: 1n }) } },
            { cmd: { $case: "Import", Import: kv.ImportRequest.fromPartial({ commitVersion: 1n }) } },
            { cmd: { $case: "Empty", Empty: { testId: 3n, delayTime: 20n } } },
          ],
        },
      ],
      2,
    );
    expect(got.byId.has(1n)).toBe(false);
    expect(got.byId.get(2n)).toEqual({ cmd: undefined });
  });

  it("region errors travel inside the matching response", async () => {
    const bad = ctx(1, 12, 2, 1);
    const got = await exchange(
      [
        {
          ids: [5n],
          reqs: [{ cmd: { $case: "Get", Get: kv.GetRequest.fromPartial({ context: bad, key: b("a") }) } }],
        },
      ],
      1,
    );
    const r = got.byId.get(5n)?.cmd;
    expect(r?.$case === "Get" && r.Get.regionError?.storeNotMatch).toEqual({
      requestStoreId: 2n,
      actualStoreId: 1n,
    });
  });

  it("health feedback: attached to the first message, and to every message answering GetHealthFeedback", async () => {
    const got = await exchange(
      [{ ids: [1n], reqs: [{ cmd: { $case: "Empty", Empty: { testId: 1n, delayTime: 0n } } }] }],
      1,
    );
    expect(got.messages[0]?.healthFeedback?.storeId).toBe(1n);

    const stream = client.batchCommands();
    const msgs: BatchCommandsResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (m: BatchCommandsResponse) => {
        msgs.push(m);
        if (msgs.length === 1) {
          stream.write(
            BatchCommandsRequest.fromPartial({
              requestIds: [2n],
              requests: [{ cmd: { $case: "GetHealthFeedback", GetHealthFeedback: {} } }],
            }),
          );
        } else if (msgs.length === 2) {
          stream.write(
            BatchCommandsRequest.fromPartial({
              requestIds: [3n],
              requests: [{ cmd: { $case: "Empty", Empty: { testId: 3n, delayTime: 0n } } }],
            }),
          );
        } else {
          stream.end();
          resolve();
        }
      });
      stream.on("error", reject);
      stream.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [1n],
          requests: [{ cmd: { $case: "Empty", Empty: { testId: 1n, delayTime: 0n } } }],
        }),
      );
    });
    const [m1, m2, m3] = msgs as [BatchCommandsResponse, BatchCommandsResponse, BatchCommandsResponse];
    expect(m1.healthFeedback).toBeDefined();
    // explicitly requested: inside the response and on the message, same sequence number
    const inner = m2.responses[0]?.cmd;
    expect(inner?.$case).toBe("GetHealthFeedback");
    const fb = inner?.$case === "GetHealthFeedback" ? inner.GetHealthFeedback.healthFeedback : undefined;
    expect(fb?.storeId).toBe(1n);
    expect(m2.healthFeedback).toEqual(fb);
    expect((fb?.feedbackSeqNo ?? 0n) > (m1.healthFeedback?.feedbackSeqNo ?? 0n)).toBe(true);
    // within the 1 s interval and not requested: none
    expect(m3.healthFeedback).toBeUndefined();
  });

  it("a gRPC-status fault on a batched request fails the whole stream", async () => {
    faults.failNext({ rpc: "KvGet", error: { grpcStatus: grpc.status.UNAVAILABLE, message: "boom" } });
    const stream = client.batchCommands();
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on("error", resolve);
      stream.on("data", () => {});
      stream.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [1n],
          requests: [
            { cmd: { $case: "Get", Get: kv.GetRequest.fromPartial({ context: c(), key: b("a") }) } },
          ],
        }),
      );
    });
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe("boom");
  });

  it("a request with another cluster id fails the stream with INVALID_ARGUMENT", async () => {
    const stream = client.batchCommands();
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on("error", resolve);
      stream.on("data", () => {});
      const context = ctx(1, 11, 1, 1, { clusterId: 9n });
      stream.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [1n],
          requests: [{ cmd: { $case: "Get", Get: kv.GetRequest.fromPartial({ context, key: b("a") }) } }],
        }),
      );
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe("cluster of request=9 does not match TiKV cluster id=5");
  });

  it("a store stop fails open streams; after restart a new stream is served (TestBatchClientRecoverAfterServerRestart, server side)", async () => {
    const s = new MockTikvStore({ storeId: 1, topology, txn: recordingTxnEngine([]), raw: new RawEngine() });
    await s.start();
    const addr = s.address;
    const c1 = newClient(addr);
    const stream = c1.batchCommands();
    const failed = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    const first = new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.write(
      BatchCommandsRequest.fromPartial({
        requestIds: [1n],
        requests: [{ cmd: { $case: "Empty", Empty: { testId: 1n, delayTime: 0n } } }],
      }),
    );
    await first;
    await s.stop();
    expect((await failed).code).toBeGreaterThan(0);
    c1.close();
    await s.start();
    const c2 = newClient(addr);
    try {
      const again = c2.batchCommands();
      const reply = await new Promise<BatchCommandsResponse>((resolve, reject) => {
        again.on("data", (m: BatchCommandsResponse) => {
          again.end();
          resolve(m);
        });
        again.on("error", reject);
        again.write(
          BatchCommandsRequest.fromPartial({
            requestIds: [7n],
            requests: [{ cmd: { $case: "Empty", Empty: { testId: 7n, delayTime: 0n } } }],
          }),
        );
      });
      expect(reply.requestIds).toEqual([7n]);
    } finally {
      c2.close();
      await s.stop();
    }
  });

  it("a fault on BatchCommands fails the stream as it opens, exactly count times", async () => {
    faults.failNext({
      rpc: "BatchCommands",
      count: 1,
      error: { grpcStatus: grpc.status.RESOURCE_EXHAUSTED, message: "too many streams" },
    });
    const stream = client.batchCommands();
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on("error", resolve);
      stream.on("data", () => {});
    });
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toBe("too many streams");
    const ok = await exchange(
      [{ ids: [1n], reqs: [{ cmd: { $case: "Empty", Empty: { testId: 1n, delayTime: 0n } } }] }],
      1,
    );
    expect(ok.byId.size).toBe(1);
    expect(faults.calls({ rpc: "BatchCommands" })).toBe(2);
  });

  it("a dropped reply is never sent, other requests are still answered", async () => {
    faults.dropReply({ rpc: "RawPut", key: "lost" });
    const reqs: BatchCommandsRequest_Request[] = [
      {
        cmd: {
          $case: "RawPut",
          RawPut: kv.RawPutRequest.fromPartial({ context: c(), key: b("lost"), value: b("x") }),
        },
      },
      { cmd: { $case: "RawGet", RawGet: kv.RawGetRequest.fromPartial({ context: c(), key: b("lost") }) } },
    ];
    const got = await exchange([{ ids: [1n, 2n], reqs }], 1);
    expect(got.byId.has(1n)).toBe(false);
    const r = got.byId.get(2n)?.cmd;
    // applied before the reply was dropped
    expect(r?.$case === "RawGet" && r.RawGet.value).toEqual(b("x"));
  });
});
