// Server-layer behaviours checked against TiKV's code, on the embedded cluster's real engines:
// - delete-range apply checks: tikv components/raftstore/src/store/fsm/apply.rs
//   handle_delete_range (inverted range, start in region, end not past the region end);
// - RaftEntryTooLarge: tikv components/raftstore/src/store/peer.rs propose_normal and
//   components/raftstore/src/errors.rs (errorpb conversion);
// - KvCleanup, unary and batched: tikv src/server/service/kv.rs future_cleanup and
//   handle_batch_commands_request;
// - GetLockWaitInfo and pessimistic_lock_wait_nanos: tikv src/server/lock_manager/
//   waiter_manager.rs (to_wait_for_entries, Waiter::cancel).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { checkDeleteRange, DEFAULT_RAFT_ENTRY_MAX_SIZE } from "../../../src/cluster/tikv/apply-checks.js";
import { regionKeyForm } from "../../../src/cluster/tikv/store-commands.js";
import { encodeBytes } from "../../../src/kv/memcomparable.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import { Region } from "../../../src/proto/metapb.js";
import {
  BatchCommandsRequest,
  type BatchCommandsResponse,
  type BatchCommandsResponse_Response,
  type TikvClient,
} from "../../../src/proto/tikvpb.js";
import { b, call, newClient } from "./helpers.js";

const LIMIT = 1024;
let cluster: EmbeddedCluster;
let client: TikvClient;

/** Context for `key`'s region on its leader. */
function route(key: string): { ctx: kv.Context; regionId: bigint } {
  const region = cluster.topology.locateKey(b(key));
  if (!region?.leader) throw new Error("no region");
  return {
    ctx: kv.Context.fromPartial({
      regionId: region.id,
      regionEpoch: region.region.regionEpoch,
      peer: region.leader,
    }),
    regionId: region.id,
  };
}

const rawPut = (key: string, value: Buffer | string) =>
  call<kv.RawPutRequest, kv.RawPutResponse>(
    client,
    "rawPut",
    kv.RawPutRequest.fromPartial({ context: route(key).ctx, key: b(key), value: Buffer.from(value) }),
  );
const rawGet = (key: string) =>
  call<kv.RawGetRequest, kv.RawGetResponse>(
    client,
    "rawGet",
    kv.RawGetRequest.fromPartial({ context: route(key).ctx, key: b(key) }),
  );
const rawDeleteRange = (regionOf: string, start: string, end: string, cf = "") =>
  call<kv.RawDeleteRangeRequest, kv.RawDeleteRangeResponse>(
    client,
    "rawDeleteRange",
    kv.RawDeleteRangeRequest.fromPartial({
      context: route(regionOf).ctx,
      startKey: b(start),
      endKey: b(end),
      cf,
    }),
  );
const kvDeleteRange = (regionOf: string, start: string, end: string) =>
  call<kv.DeleteRangeRequest, kv.DeleteRangeResponse>(
    client,
    "kvDeleteRange",
    kv.DeleteRangeRequest.fromPartial({ context: route(regionOf).ctx, startKey: b(start), endKey: b(end) }),
  );
const prewrite = (key: string, value: Buffer | string, startTs: bigint) =>
  call<kv.PrewriteRequest, kv.PrewriteResponse>(
    client,
    "kvPrewrite",
    kv.PrewriteRequest.fromPartial({
      context: route(key).ctx,
      mutations: [{ op: kv.Op.Put, key: b(key), value: Buffer.from(value) }],
      primaryLock: b(key),
      startVersion: startTs,
      lockTtl: 3000n,
    }),
  );
const commit = (key: string, startTs: bigint, commitTs: bigint) =>
  call<kv.CommitRequest, kv.CommitResponse>(
    client,
    "kvCommit",
    kv.CommitRequest.fromPartial({
      context: route(key).ctx,
      keys: [b(key)],
      startVersion: startTs,
      commitVersion: commitTs,
    }),
  );
const kvGet = (key: string, version: bigint) =>
  call<kv.GetRequest, kv.GetResponse>(
    client,
    "kvGet",
    kv.GetRequest.fromPartial({ context: route(key).ctx, key: b(key), version }),
  );

/** Sends one BatchCommands message and returns the first response message. */
function batch(requests: BatchCommandsRequest["requests"]): Promise<BatchCommandsResponse_Response[]> {
  const stream = client.batchCommands();
  return new Promise((resolve, reject) => {
    stream.on("data", (m: BatchCommandsResponse) => {
      stream.end();
      resolve(m.responses);
    });
    stream.on("error", reject);
    stream.write(
      BatchCommandsRequest.fromPartial({ requestIds: requests.map((_, i) => BigInt(i + 1)), requests }),
    );
  });
}

beforeAll(async () => {
  cluster = await EmbeddedCluster.start({ stores: 1, splitKeys: ["m"], raftEntryMaxSize: LIMIT });
  client = newClient(cluster.store(1).address);
});
afterAll(async () => {
  client.close();
  await cluster.close();
});

describe("RawDeleteRange / KvDeleteRange apply checks (raftstore handle_delete_range)", () => {
  it("an end key past the region end is KeyNotInRegion on that key; nothing is deleted", async () => {
    await rawPut("b", "1");
    const r = await rawDeleteRange("a", "a", "n");
    const left = cluster.topology.locateKey(b("a"));
    expect(r.error).toBe("");
    expect(r.regionError?.keyNotInRegion).toEqual({
      key: b("n"),
      regionId: left?.id,
      startKey: b(""),
      endKey: b("m"),
    });
    expect(r.regionError?.message).toBe(`key 6E is not in region key range [, 6D) for region ${left?.id}`);
    expect((await rawGet("b")).value).toEqual(b("1"));
  });

  it("an end key equal to the region end is fine", async () => {
    await rawPut("c", "1");
    const r = await rawDeleteRange("a", "a", "m");
    expect(r.regionError).toBeUndefined();
    expect(r.error).toBe("");
    expect((await rawGet("c")).notFound).toBe(true);
  });

  it("an unbounded (empty) raw end is outside every region but the last", async () => {
    const r = await rawDeleteRange("a", "a", "");
    expect(r.regionError?.keyNotInRegion?.key).toEqual(b(""));
    await rawPut("q", "1");
    const last = await rawDeleteRange("n", "n", "");
    expect(last.regionError).toBeUndefined();
    expect((await rawGet("q")).notFound).toBe(true);
  });

  it("an inverted or empty range is an 'invalid delete range command' region error, checked first", async () => {
    await rawPut("d", "1");
    const same = await rawDeleteRange("a", "d", "d");
    expect(same.error).toBe("");
    expect(same.regionError).toEqual(
      expect.objectContaining({
        message: '"invalid delete range command, start_key: [100], end_key: [100]"',
        keyNotInRegion: undefined,
        notLeader: undefined,
      }),
    );
    // Checked before the start key's region: both keys are outside region ["", "m").
    const outside = await rawDeleteRange("a", "z", "y");
    expect(outside.regionError?.message).toBe(
      '"invalid delete range command, start_key: [122], end_key: [121]"',
    );
    expect((await rawGet("d")).value).toEqual(b("1"));
  });

  it("storage validation (column family) comes before the apply checks", async () => {
    const r = await rawDeleteRange("a", "e", "d", "nope");
    expect(r.regionError).toBeUndefined();
    expect(r.error).toBe("invalid cf name: nope");
  });

  it("KvDeleteRange: end past the region is KeyNotInRegion; an empty end is the encoded empty key", async () => {
    const past = await kvDeleteRange("a", "a", "n");
    expect(past.regionError?.keyNotInRegion?.key).toEqual(b("n"));
    // storage encodes both bounds (Key::from_raw): "" is the smallest key, so the range is inverted.
    const empty = await kvDeleteRange("n", "n", "");
    const render = (k: string) => `[${Array.from(encodeBytes(b(k))).join(", ")}]`;
    expect(empty.regionError?.message).toBe(
      `"invalid delete range command, start_key: ${render("n")}, end_key: ${render("")}"`,
    );
    expect(empty.error).toBe("");
  });

  it("KvDeleteRange inside the region deletes the data", async () => {
    expect((await prewrite("f", "1", 100n)).errors).toEqual([]);
    expect((await commit("f", 100n, 101n)).error).toBeUndefined();
    const r = await kvDeleteRange("a", "e", "g");
    expect(r.regionError).toBeUndefined();
    expect((await kvGet("f", 200n)).notFound).toBe(true);
  });
});

describe("checkDeleteRange with encoded keys (txn, API V2 raw)", () => {
  // Boundaries in stored form, as raftstore keeps them.
  const region = Region.fromPartial({ id: 9n, startKey: encodeBytes(b("b")), endKey: encodeBytes(b("m")) });
  const form = regionKeyForm("memcomparable");
  it("renders the inverted range with memcomparable keys and KeyNotInRegion in the stored form", () => {
    const inverted = checkDeleteRange(b("c"), b("c"), region, "encoded", form);
    expect(inverted?.message).toBe(
      `"invalid delete range command, start_key: [${Array.from(encodeBytes(b("c"))).join(", ")}], end_key: [${Array.from(encodeBytes(b("c"))).join(", ")}]"`,
    );
    const past = checkDeleteRange(b("c"), b("n"), region, "encoded", form);
    expect(past?.keyNotInRegion?.key).toEqual(encodeBytes(b("n")));
    expect(past?.keyNotInRegion?.endKey).toEqual(encodeBytes(b("m")));
    const before = checkDeleteRange(b("a"), b("c"), region, "encoded", form);
    expect(before?.keyNotInRegion?.key).toEqual(encodeBytes(b("a")));
    expect(checkDeleteRange(b("b"), b("m"), region, "encoded", form)).toBeUndefined();
  });
});

describe("RaftEntryTooLarge (raftstore propose, raft-entry-max-size)", () => {
  it("a raw put larger than the limit is refused with region id and entry size, and not written", async () => {
    const { regionId } = route("big");
    const r = await rawPut("big", Buffer.alloc(LIMIT, 1));
    expect(r.regionError?.raftEntryTooLarge).toEqual({ regionId, entrySize: BigInt(LIMIT + 3) });
    expect(r.regionError?.message).toBe(
      `raft entry is too large, region ${regionId}, entry size ${LIMIT + 3}`,
    );
    expect((await rawGet("big")).notFound).toBe(true);
    // Just under the limit is accepted.
    expect((await rawPut("big", Buffer.alloc(LIMIT - 3, 1))).regionError).toBeUndefined();
  });

  it("a raw batch put counts every pair", async () => {
    const pairs = [0, 1, 2].map((i) => ({ key: b(`p${i}`), value: Buffer.alloc(400, 1) }));
    const r = await call<kv.RawBatchPutRequest, kv.RawBatchPutResponse>(
      client,
      "rawBatchPut",
      kv.RawBatchPutRequest.fromPartial({ context: route("p0").ctx, pairs }),
    );
    expect(r.regionError?.raftEntryTooLarge?.entrySize).toBe(3n * 402n);
    expect((await rawGet("p0")).notFound).toBe(true);
  });

  it("a prewrite larger than the limit leaves no lock", async () => {
    const r = await prewrite("h", Buffer.alloc(LIMIT, 2), 300n);
    expect(r.regionError?.raftEntryTooLarge?.entrySize).toBe(BigInt(LIMIT + 2));
    expect(r.errors).toEqual([]);
    const g = await kvGet("h", 400n);
    expect(g.error).toBeUndefined();
    expect(g.notFound).toBe(true);
  });

  it("a pessimistic lock counts each key and its copy of the primary", async () => {
    const keys = Array.from({ length: 50 }, (_, i) => b(`lk${String(i).padStart(10, "0")}`));
    const r = await call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
      client,
      "kvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({
        context: route("lk").ctx,
        mutations: keys.map((key) => ({ op: kv.Op.PessimisticLock, key })),
        primaryLock: keys[0],
        startVersion: 500n,
        forUpdateTs: 500n,
        lockTtl: 3000n,
      }),
    );
    // 50 keys of 12 bytes, each lock carrying the 12-byte primary.
    expect(r.regionError?.raftEntryTooLarge?.entrySize).toBe(50n * 24n);
    // Nothing was locked: another txn locks the first key without waiting.
    const other = await call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
      client,
      "kvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({
        context: route("lk").ctx,
        mutations: [{ op: kv.Op.PessimisticLock, key: keys[0] }],
        primaryLock: keys[0],
        startVersion: 510n,
        forUpdateTs: 510n,
        lockTtl: 3000n,
        waitTimeout: -1n,
      }),
    );
    expect(other.regionError).toBeUndefined();
    expect(other.errors).toEqual([]);
  });

  it("is checked inside BatchCommands too", async () => {
    const [resp] = await batch([
      {
        cmd: {
          $case: "RawPut",
          RawPut: kv.RawPutRequest.fromPartial({
            context: route("bp").ctx,
            key: b("bp"),
            value: Buffer.alloc(LIMIT, 1),
          }),
        },
      },
    ]);
    const c = resp?.cmd;
    expect(c?.$case === "RawPut" && c.RawPut.regionError?.raftEntryTooLarge?.entrySize).toBe(
      BigInt(LIMIT + 2),
    );
  });

  it("defaults to TiKV's 8 MiB", async () => {
    expect(DEFAULT_RAFT_ENTRY_MAX_SIZE).toBe(8 * 1024 * 1024);
    const c2 = await EmbeddedCluster.start({ stores: 1 });
    const cl = newClient(c2.store(1).address);
    try {
      const region = c2.topology.locateKey(b("k"));
      const context = kv.Context.fromPartial({
        regionId: region?.id,
        regionEpoch: region?.region.regionEpoch,
        peer: region?.leader,
      });
      const put = (size: number) =>
        call<kv.RawPutRequest, kv.RawPutResponse>(
          cl,
          "rawPut",
          kv.RawPutRequest.fromPartial({ context, key: b("k"), value: Buffer.alloc(size, 7) }),
        );
      const big = await put(DEFAULT_RAFT_ENTRY_MAX_SIZE);
      expect(big.regionError?.raftEntryTooLarge?.entrySize).toBe(BigInt(DEFAULT_RAFT_ENTRY_MAX_SIZE + 1));
      expect((await put(1024 * 1024)).regionError).toBeUndefined();
    } finally {
      cl.close();
      await c2.close();
    }
  });
});

describe("KvCleanup (future_cleanup)", () => {
  it("rolls back a prewritten key; a committed key answers its commit_version", async () => {
    expect((await prewrite("cl1", "v", 600n)).errors).toEqual([]);
    const r = await call<kv.CleanupRequest, kv.CleanupResponse>(
      client,
      "kvCleanup",
      kv.CleanupRequest.fromPartial({ context: route("cl1").ctx, key: b("cl1"), startVersion: 600n }),
    );
    expect(r.regionError).toBeUndefined();
    expect(r.error).toBeUndefined();
    expect(r.commitVersion).toBe(0n);
    expect((await kvGet("cl1", 700n)).error).toBeUndefined();
    // The rollback record makes a later commit of that txn fail.
    expect((await commit("cl1", 600n, 601n)).error).toBeDefined();

    expect((await prewrite("cl2", "v", 610n)).errors).toEqual([]);
    expect((await commit("cl2", 610n, 611n)).error).toBeUndefined();
    const done = await call<kv.CleanupRequest, kv.CleanupResponse>(
      client,
      "kvCleanup",
      kv.CleanupRequest.fromPartial({ context: route("cl2").ctx, key: b("cl2"), startVersion: 610n }),
    );
    expect(done.commitVersion).toBe(611n);
    expect(done.error).toBeUndefined();
  });

  it("is served inside BatchCommands and reachable by faults", async () => {
    expect((await prewrite("cl3", "v", 620n)).errors).toEqual([]);
    const [resp] = await batch([
      {
        cmd: {
          $case: "Cleanup",
          Cleanup: kv.CleanupRequest.fromPartial({
            context: route("cl3").ctx,
            key: b("cl3"),
            startVersion: 620n,
          }),
        },
      },
    ]);
    const c = resp?.cmd;
    expect(c?.$case).toBe("Cleanup");
    expect(c?.$case === "Cleanup" && c.Cleanup.error).toBeUndefined();
    expect((await kvGet("cl3", 700n)).error).toBeUndefined();

    cluster.faults.failNext({ rpc: "KvCleanup", error: { keyError: { abort: "injected" } } });
    try {
      const r = await call<kv.CleanupRequest, kv.CleanupResponse>(
        client,
        "kvCleanup",
        kv.CleanupRequest.fromPartial({ context: route("cl4").ctx, key: b("cl4"), startVersion: 630n }),
      );
      expect(r.error?.abort).toBe("injected");
    } finally {
      cluster.faults.clear();
    }
  });
});

describe("lock waiting: GetLockWaitInfo and pessimistic_lock_wait_nanos", () => {
  it("lists the waiting request, and the answer reports how long it waited", async () => {
    expect((await prewrite("w", "v", 800n)).errors).toEqual([]);
    const pending = call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
      client,
      "kvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({
        context: route("w").ctx,
        mutations: [{ op: kv.Op.PessimisticLock, key: b("w") }],
        primaryLock: b("w"),
        startVersion: 810n,
        forUpdateTs: 810n,
        lockTtl: 3000n,
        waitTimeout: 5000n,
      }),
    );
    const info = () =>
      call<kv.GetLockWaitInfoRequest, kv.GetLockWaitInfoResponse>(
        client,
        "getLockWaitInfo",
        kv.GetLockWaitInfoRequest.fromPartial({}),
      );
    let entries = (await info()).entries;
    while (entries.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
      entries = (await info()).entries;
    }
    expect(entries.map((e) => [e.txn, e.waitForTxn, e.key.toString()])).toEqual([[810n, 800n, "w"]]);
    await new Promise((r) => setTimeout(r, 5));
    expect((await commit("w", 800n, 805n)).error).toBeUndefined();
    const resp = await pending;
    // A legacy waiter is woken with WriteConflict; its wait is reported all the same.
    expect(resp.errors[0]?.conflict).toBeDefined();
    expect(resp.execDetailsV2?.writeDetail?.pessimisticLockWaitNanos ?? 0n).toBeGreaterThan(0n);
    expect((await info()).entries).toEqual([]);
  });
});
