// The store actor against a fake TiKV server (real grpc-js, loopback, port 0).
import { afterEach, describe, expect, it } from "vitest";
import { StoreActor } from "../../../src/actors/store/store-actor.js";
import { StorePool } from "../../../src/actors/store/store-pool.js";
import { GetRequest, RawBatchScanRequest } from "../../../src/proto/kvrpcpb.js";
import { AbortedError, GrpcError, ShuttingDownError, TimeoutError } from "../../../src/rpc/errors.js";
import { FakeTikv } from "./fake-tikv.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(opts: { slowScore?: number } = {}) {
  const server = new FakeTikv({ slowScore: opts.slowScore, storeId: 1 });
  await server.start();
  const store = new StoreActor({ storeId: 1, address: server.address, backoff: { baseMs: 20, capMs: 100 } });
  cleanups.push(() => {
    store.stop();
    server.stop();
  });
  return { server, store };
}

const getReq = (k: string) => GetRequest.fromPartial({ key: Buffer.from(k), version: 10n });

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("StoreActor", () => {
  it("connects, batches the requests of one turn, and answers each", async () => {
    const { server, store } = await setup();
    const resps = await Promise.all(["a", "b", "c"].map((k) => store.send("Get", getReq(k))));
    expect(resps.map((r) => r.value.toString())).toEqual(["v:a", "v:b", "v:c"]);
    expect(store.state).toBe("ready");
    // one probe (Empty) on connect, then the held requests flushed together
    expect(server.batches).toEqual([1, 3]);
    const more = await Promise.all(Array.from({ length: 200 }, (_, i) => store.send("Get", getReq(`k${i}`))));
    expect(more).toHaveLength(200);
    expect(server.batches.slice(2)).toEqual([128, 72]);
  });

  it("routes every request through the machine when the fast path is off (one hop), same results", async () => {
    const server = new FakeTikv();
    await server.start();
    const store = new StoreActor({ storeId: 5, address: server.address, fastPath: false });
    cleanups.push(() => {
      store.stop();
      server.stop();
    });
    await store.whenReady();
    const resps = await Promise.all(["p", "q"].map((k) => store.send("Get", getReq(k))));
    expect(resps.map((r) => r.value.toString())).toEqual(["v:p", "v:q"]);
    expect(server.batches).toEqual([1, 2]);
  });

  it("sends unary-only commands unary", async () => {
    const { server, store } = await setup();
    const r = await store.send("RawBatchScan", RawBatchScanRequest.fromPartial({}), { timeoutMs: 2000 });
    expect(r.kvs[0]?.key.toString()).toBe("a");
    expect(server.unaryCalls).toEqual(["RawBatchScan"]);
  });

  it("feeds health feedback into the slow score", async () => {
    const { store } = await setup({ slowScore: 42 });
    await store.send("Get", getReq("a"));
    await until(() => store.health.slowScore === 42, "slow score");
    expect(store.health.reachability).toBe("reachable");
  });

  it("times out a request the server never answers", async () => {
    const { server, store } = await setup();
    await store.whenReady();
    server.hold = true;
    await expect(store.send("Get", getReq("a"), { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it("recovers after the server restarts (client-go TestBatchClientRecoverAfterServerRestart)", async () => {
    const { server, store } = await setup();
    const events: string[] = [];
    store.on("unreachable", () => events.push("unreachable"));
    store.on("reachable", () => events.push("reachable"));
    for (let i = 0; i < 20; i++) await store.send("Get", getReq(`k${i}`));
    server.hold = true;
    const inflight = store.send("Get", getReq("lost")).catch((e) => e);
    await until(() => server.held.length === 1, "request to reach the server");
    const port = server.port;
    server.stop();
    const err = await inflight;
    expect(err).toBeInstanceOf(GrpcError);
    await until(() => store.state !== "ready", "store to notice the loss");
    // while down, requests fail (fast or by timeout) with typed errors
    for (let i = 0; i < 3; i++) {
      const e = await store.send("Get", getReq("down"), { timeoutMs: 50 }).catch((x) => x);
      expect(e instanceof GrpcError || e instanceof TimeoutError).toBe(true);
    }
    expect(store.health.reachability).toBe("unreachable");
    server.hold = false;
    await server.start(port);
    await until(() => store.state === "ready", "reconnect");
    for (let i = 0; i < 20; i++) await store.send("Get", getReq(`again${i}`));
    expect(events[0]).toBe("reachable");
    expect(events).toContain("unreachable");
    expect(events.at(-1)).toBe("reachable");
  });

  it("fails requests held during a failed first connect with GrpcError (client-go TestFastFailRequest)", async () => {
    const dead = new FakeTikv();
    await dead.start();
    const addr = dead.address;
    dead.stop();
    const store = new StoreActor({
      storeId: 9,
      address: addr,
      connectTimeoutMs: 200,
      backoff: { baseMs: 1000 },
    });
    cleanups.push(() => store.stop());
    const err = await store.send("Get", getReq("a")).catch((e) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect((err as GrpcError).message).toContain("no available connections");
    expect(store.state).toBe("reconnecting");
  });

  it("a request held during the first connect still honours its own timeout and signal", async () => {
    const dead = new FakeTikv();
    await dead.start();
    const addr = dead.address;
    dead.stop();
    const store = new StoreActor({ storeId: 8, address: addr, connectTimeoutMs: 5000 });
    cleanups.push(() => store.stop());
    expect(store.state).toBe("connecting");
    await expect(store.send("Get", getReq("a"), { timeoutMs: 50 })).rejects.toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const p = store.send("Get", getReq("b"), { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    expect(store.state).toBe("connecting");
  });

  it("after stop() every request fails with ShuttingDownError", async () => {
    const { store } = await setup();
    await store.whenReady();
    store.stop();
    await expect(store.send("Get", getReq("a"))).rejects.toBeInstanceOf(ShuttingDownError);
    expect(store.state).toBe("stopped");
  });
});

describe("StorePool", () => {
  it("keeps one actor per store and replaces it when the address changes", async () => {
    const a = new FakeTikv();
    const b = new FakeTikv();
    await a.start();
    await b.start();
    const pool = new StorePool({ backoff: { baseMs: 20 } });
    cleanups.push(() => {
      pool.close();
      a.stop();
      b.stop();
    });
    const s1 = pool.get(1, a.address);
    expect(pool.get(1, a.address)).toBe(s1);
    await s1.send("Get", getReq("x"));
    const s2 = pool.get(1, b.address);
    expect(s2).not.toBe(s1);
    expect(s1.state).toBe("stopped");
    await s2.send("Get", getReq("y"));
    expect(b.batches).toEqual([1, 1]);
    pool.remove(1);
    expect(pool.peek(1)).toBeUndefined();
  });
});
