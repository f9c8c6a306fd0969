// The routing layer over the real transport: RequestSender → StorePool (grpc-js BatchCommands)
// → fake TiKV servers on loopback (port 0).
import { afterEach, describe, expect, it } from "vitest";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { probeFromPool, RequestSender, storeSenderFromPool } from "../../../src/actors/request/index.js";
import { StorePool } from "../../../src/actors/store/store-pool.js";
import { GetRequest } from "../../../src/proto/kvrpcpb.js";
import { FakeTikv } from "../transport/fake-tikv.js";
import { FakePd, key } from "./fakes.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup() {
  const servers = [new FakeTikv({ storeId: 1 }), new FakeTikv({ storeId: 2 })];
  for (const s of servers) await s.start();
  const pd = new FakePd();
  pd.addStore(1n);
  pd.addStore(2n);
  pd.stores.get(1n)!.address = servers[0]!.address;
  pd.stores.get(2n)!.address = servers[1]!.address;
  pd.addRegion(1n, "", "", [1n, 2n]);
  const pool = new StorePool({ backoff: { baseMs: 20, capMs: 100 }, connectTimeoutMs: 500 });
  const cache = new RegionCache(pd, { probe: probeFromPool(pool, 500) });
  const sender = new RequestSender(cache, storeSenderFromPool(pool));
  cleanups.push(() => {
    pool.close();
    for (const s of servers) s.stop();
  });
  return { servers, cache, sender, pool };
}

const build = (k: string) => (c: { context: GetRequest["context"] }) =>
  GetRequest.fromPartial({ context: c.context, key: key(k), version: 10n });

describe("routing over the real transport", () => {
  it("a key-target Get goes to the leader's store over BatchCommands", async () => {
    const { sender, servers } = await setup();
    const resp = await sender.sendToRegion(key("a"), "Get", build("a"));
    expect(resp.value.toString()).toBe("v:a");
    expect(servers[0]!.batches.length).toBeGreaterThan(0);
  });

  it("when the leader's store is down, the request switches to the other peer", async () => {
    const { sender, servers, cache } = await setup();
    await sender.sendToRegion(key("a"), "Get", build("a"));
    servers[0]!.stop();
    const resp = await sender.sendToRegion(key("b"), "Get", build("b"), {
      rpcTimeoutMs: 500,
      maxBackoffMs: 5_000,
    });
    expect(resp.value.toString()).toBe("v:b");
    expect(cache.stores.liveness(1n)).toBe("unreachable");
  });
});
