// The request sender with RPC interceptors (client-go internal/client/client_interceptor.go): the
// fast path stays untouched without them, each attempt is wrapped with them, a refusal fails the
// call at once with nothing sent.

import { describe, expect, it } from "vitest";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender, type SendProgress } from "../../../src/actors/request/index.js";
import type { StoreAddress, StoreSendOptions } from "../../../src/actors/request/store-sender.js";
import { RpcRejectedError, type RpcRequest, rpcInterceptor } from "../../../src/api/interceptor.js";
import { wasNotSent } from "../../../src/rpc/errors.js";
import { FakePd, key, ScriptedStores } from "./fakes.js";

// scripted stores with the callback form too, counting which form each attempt used
class CallbackStores extends ScriptedStores {
  viaCallback = 0;
  sendWithCallback(
    store: StoreAddress,
    cmd: string,
    req: unknown,
    opts: StoreSendOptions,
    reply: (err: Error | null, resp?: never) => void,
  ): void {
    this.viaCallback++;
    this.send(store, cmd, req, opts).then(
      (r) => reply(null, r),
      (e: Error) => reply(e),
    );
  }
}

function world(interceptor?: Parameters<typeof rpcInterceptor>[1]) {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id);
  pd.addRegion(1n, "", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const stores = new CallbackStores();
  const sender = new RequestSender(cache, stores, {
    random: () => 0,
    interceptor: interceptor ? rpcInterceptor("client", interceptor) : undefined,
  });
  return { cache, stores, sender };
}

const get = (ctx: { context: unknown }) => ({ context: ctx.context, key: key("a") }) as never;

describe("request sender with interceptors", () => {
  it("without interceptors the fast path (callback form) is used; with one, each attempt goes through it", async () => {
    const plain = world();
    await plain.sender.sendToRegion(key("a"), "Get", get); // cache miss: the general path
    await plain.sender.sendToRegion(key("a"), "Get", get);
    expect(plain.stores.viaCallback).toBe(1);

    const seen: RpcRequest[] = [];
    const w = world((next) => (req) => {
      seen.push(req);
      return next(req);
    });
    await w.sender.sendToRegion(key("a"), "Get", get);
    await w.sender.sendToRegion(key("a"), "Get", get);
    expect(w.stores.viaCallback).toBe(0);
    expect(seen.map((r) => [r.command, r.regionId, r.storeId, r.attempt])).toEqual([
      ["Get", 1n, 1n, 0],
      ["Get", 1n, 1n, 0],
    ]);
    expect(seen[0]?.address).toBe(w.stores.accesses[0]?.addr);
    expect((seen[0]?.request as { context: unknown }).context).toBe(seen[0]?.context);
  });

  it("retries are intercepted attempt by attempt; client then call interceptors, as an onion", async () => {
    const order: string[] = [];
    const w = world((next) => async (req) => {
      order.push(`client:${req.attempt}`);
      const r = await next(req);
      order.push(`/client:${req.attempt}`);
      return r;
    });
    w.stores.script = [{ regionError: { serverIsBusy: { reason: "busy" } } }];
    const call = rpcInterceptor("call", (next) => async (req) => {
      order.push(`call:${req.attempt}`);
      const r = await next(req);
      order.push(`/call:${req.attempt}`);
      return r;
    });
    await w.sender.sendToRegion(key("a"), "Get", get, { interceptor: call });
    expect(order).toEqual([
      "client:0",
      "call:0",
      "/call:0",
      "/client:0",
      "client:1",
      "call:1",
      "/call:1",
      "/client:1",
    ]);
  });

  it("a refusal fails the call at once: not sent, not retried, RpcRejectedError", async () => {
    let calls = 0;
    const w = world(() => () => {
      calls++;
      throw new RpcRejectedError("no");
    });
    const progress: SendProgress = { sent: false };
    const err = await w.sender.sendToRegion(key("a"), "Get", get, { progress }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RpcRejectedError);
    expect(wasNotSent(err)).toBe(true);
    expect(calls).toBe(1);
    expect(w.stores.accesses).toHaveLength(0);
    expect(progress.sent).toBe(false);
  });

  it("an interceptor resolving with no response fails the call with RpcRejectedError", async () => {
    const w = world(() => async () => undefined);
    await expect(w.sender.sendToRegion(key("a"), "Get", get)).rejects.toBeInstanceOf(RpcRejectedError);
    expect(w.stores.accesses).toHaveLength(0);
  });

  it("an interceptor may answer in place of the store (a mock response)", async () => {
    const w = world(() => async () => ({ value: Buffer.from("mocked"), notFound: false }));
    const r = (await w.sender.sendToRegion(key("a"), "Get", get)) as { value: Buffer };
    expect(r.value.toString()).toBe("mocked");
    expect(w.stores.accesses).toHaveLength(0);
  });
});
