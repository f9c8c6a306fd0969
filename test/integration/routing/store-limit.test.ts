// Store token limits (client-go kv.StoreLimit, RegionRequestSender getStoreToken /
// releaseStoreToken, tikverr.ErrTokenLimit): ConnectOptions.storeLimit caps the requests one
// client has in flight to one store. Over the cap a request fails at once with TokenLimitError
// (TOKEN_LIMIT, store id and limit), is never sent and is not retried (client-go's sender
// returns the error to its caller); tokens come back on every outcome.

import { status } from "@grpc/grpc-js";
import { describe, expect } from "vitest";
import {
  AbortedError,
  InvalidArgumentError,
  TikvClient,
  TimeoutError,
  TokenLimitError,
} from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("store token limit", () => {
  const env = useCluster({ stores: 1 });
  const storeId = () => env.cluster.stores[0]!.storeId;
  const served = () => env.cluster.faults.calls({ rpc: "RawGet" });

  async function warm(limit: number) {
    const c = await env.connect({ storeLimit: limit });
    const raw = c.raw();
    await raw.get("warm"); // region and store resolved: every later get takes the fast path
    return { c, raw };
  }

  itFault("is off by default: many concurrent requests to one store all succeed", async () => {
    const c = await env.connect();
    expect(c.config.storeLimit).toBe(0);
    const raw = c.raw();
    const delay = env.cluster.faults.delay({ rpc: "RawGet", ms: 50 });
    try {
      const got = await Promise.all(Array.from({ length: 40 }, (_, i) => raw.get(`k${i}`)));
      expect(got).toHaveLength(40);
    } finally {
      delay.cancel();
    }
  });

  itFault(
    "refuses the excess at once with TokenLimitError, unsent, and recovers as requests finish",
    async () => {
      const { c, raw } = await warm(2);
      expect(c.config.storeLimit).toBe(2);
      const p = uniquePrefix("tl");
      await raw.put(`${p}a`, "1");
      const delay = env.cluster.faults.delay({ rpc: "RawGet", ms: 300 });
      const before = served();
      const inFlight = [raw.get(`${p}a`), raw.get(`${p}a`)];
      const t0 = Date.now();
      const err = await raw.get(`${p}a`).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(250); // at once, not after the in-flight ones
      expect(err).toBeInstanceOf(TokenLimitError);
      expect((err as TokenLimitError).code).toBe("TOKEN_LIMIT");
      expect((err as TokenLimitError).storeId).toBe(storeId());
      expect((err as TokenLimitError).limit).toBe(2);
      expect((err as Error).message).toBe(`store token is up to the limit, store id = ${storeId()}`);
      expect((await Promise.all(inFlight)).map((v) => v?.toString())).toEqual(["1", "1"]);
      delay.cancel();
      // the refused request never reached the store
      expect(served() - before).toBe(2);
      // both tokens are back: two at once are accepted again
      const again = await Promise.all([raw.get(`${p}a`), raw.get(`${p}a`)]);
      expect(again.map((v) => v?.toString())).toEqual(["1", "1"]);
    },
  );

  itFault("concurrent calls: exactly `limit` are served, the rest fail with the typed error", async () => {
    const { raw } = await warm(3);
    const delay = env.cluster.faults.delay({ rpc: "RawGet", ms: 200 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => raw.get(`c${i}`)));
      const ok = results.filter((r) => r.status === "fulfilled");
      const refused = results.filter(
        (r) => r.status === "rejected" && (r.reason as Error) instanceof TokenLimitError,
      );
      expect(ok).toHaveLength(3);
      expect(refused).toHaveLength(7);
    } finally {
      delay.cancel();
    }
  });

  itFault(
    "tokens are released on success, region error, send failure, timeout and abort (none leak)",
    async () => {
      // limit 1: any token left behind makes the next request fail with TokenLimitError
      const { raw } = await warm(1);
      const p = uniquePrefix("leak");
      await raw.put(`${p}k`, "v");
      const check = async () => expect((await raw.get(`${p}k`))?.toString()).toBe("v");

      // success
      await check();
      // region error, retried after a backoff (the retry attempt takes a token of its own)
      env.cluster.faults.failNext({
        rpc: "RawGet",
        error: { regionError: { serverIsBusy: { reason: "busy" } } },
      });
      await check();
      // send failure (gRPC UNAVAILABLE), retried
      env.cluster.faults.failNext({ rpc: "RawGet", error: { grpcStatus: status.UNAVAILABLE } });
      await check();
      // timeout
      let hang = env.cluster.faults.delay({ rpc: "RawGet", ms: 400, count: 1 });
      await expect(raw.get(`${p}k`, { timeoutMs: 50 })).rejects.toBeInstanceOf(TimeoutError);
      hang.cancel();
      await check();
      // abort
      hang = env.cluster.faults.delay({ rpc: "RawGet", ms: 400, count: 1 });
      const ac = new AbortController();
      const aborted = raw.get(`${p}k`, { signal: ac.signal });
      setTimeout(() => ac.abort("stop"), 30);
      await expect(aborted).rejects.toBeInstanceOf(AbortedError);
      hang.cancel();
      await check();
      // a non-retried server error of a write (raw put failing with a key-level gRPC error)
      env.cluster.faults.failNext({ rpc: "RawPut", error: { grpcStatus: status.INVALID_ARGUMENT } });
      await raw.put(`${p}k`, "v").catch(() => {});
      await check();
      // transactions go through the same sender, with the same limit
      const tc = (await warm(1)).c.txn();
      const w = await tc.begin();
      w.set(`${p}t`, "tv");
      await w.commit();
      const r = await tc.begin();
      expect((await r.get(`${p}t`))?.toString()).toBe("tv");
      await r.rollback();
    },
  );

  itFault("storeLimit is validated: a non-negative integer", async () => {
    for (const bad of [-1, 1.5, Number.NaN, "8" as unknown as number]) {
      const err = await TikvClient.connect({ pdEndpoints: env.pdEndpoints, storeLimit: bad }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).argument).toBe("storeLimit");
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("store token limit across stores", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  itFault("the limit is per store: a store at its limit does not hold back another", async () => {
    const topo = env.cluster.topology;
    const left = topo.locateKey("a")!;
    const right = topo.locateKey("z")!;
    const leftStore = left.leader!.storeId;
    const other = right.peers.find((x) => x.storeId !== leftStore)!.storeId;
    topo.transferLeader(right.id, other);
    const c = await env.connect({ storeLimit: 1 });
    const raw = c.raw();
    await raw.batchGet(["a", "z"]); // both regions cached with their leaders
    const delay = env.cluster.faults.delay({ rpc: "RawGet", ms: 300, count: 1, storeId: leftStore });
    const held = raw.get("a");
    await new Promise((r) => setTimeout(r, 20));
    const err = await raw.get("b").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenLimitError);
    expect((err as TokenLimitError).storeId).toBe(leftStore);
    expect(await raw.get("z")).toBeUndefined(); // the other store has its own token
    await held;
    delay.cancel();
  });
});
