// Access paths with forwarding on (client-go internal/locate/replica_selector_test.go
// TestReplicaReadAccessPathByProxyCase and the proxy part of region_request3_test.go
// TestForwarding): the leader's store fails a send and is found unreachable, so the next attempt
// goes to a follower carrying the leader's address as the forwarded host; the follower that
// worked is reused; when every follower fails as a proxy the region is given up with the pseudo
// EpochNotMatch; a reachable leader is sent to directly again; and the later cases of that table:
// NotLeader and ServerIsBusy answered through a proxy, for gets and prewrites.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import type { StoreAddress, StoreSendOptions } from "../../../src/actors/request/store-sender.js";
import { resolveConnectOptions } from "../../../src/api/options.js";
import { InvalidArgumentError } from "../../../src/errors/index.js";
import type { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { FakePd, key, ScriptedStores, type StoreAnswer } from "./fakes.js";

/** ScriptedStores that also note the forwarded host, in client-go's access-path notation. */
class ForwardingStores extends ScriptedStores {
  forwarded: (string | undefined)[] = [];
  override send(store: StoreAddress, cmd: string, req: unknown, opts: StoreSendOptions): Promise<never> {
    this.forwarded.push(store.forwardedHost);
    return super.send(store, cmd, req, opts);
  }
  override path(): string[] {
    return super
      .path()
      .map((p, i) => (this.forwarded[i] ? `${p.slice(0, -1)}, forward_addr: ${this.forwarded[i]}}` : p));
  }
}

const direct = (s: number) => `{addr: store${s}, replica-read: false, stale-read: false}`;
const via = (s: number, leader: number) =>
  `{addr: store${s}, replica-read: false, stale-read: false, forward_addr: store${leader}}`;

function newWorld(enableForwarding = true) {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id, { id: String(id) });
  pd.addRegion(1n, "", "", [1n, 2n, 3n], 0);
  const cache = new RegionCache(pd, { random: () => 0, enableForwarding });
  const stores = new ForwardingStores();
  return { cache, stores, sender: new RequestSender(cache, stores, { random: () => 0 }) };
}

/** The client-go RegionErrorType names the proxy cases use, as scripted store answers. */
type ProxyErr =
  | "DeadLineExceededErr"
  | "NotLeaderErr"
  | "NotLeaderWithNewLeader2Err"
  | "ServerIsBusyErr"
  | "ServerIsBusyWithEstimatedWaitMsErr";

function answerOf(t: ProxyErr): StoreAnswer {
  const busy = (estimatedWaitMs: number) => ({
    regionError: { serverIsBusy: { reason: "", backoffMs: 0n, estimatedWaitMs, appliedIndex: 0n } },
  });
  switch (t) {
    case "DeadLineExceededErr":
      return { error: "timeout" };
    case "NotLeaderErr":
      return { regionError: { notLeader: { regionId: 1n, leader: undefined } } };
    case "NotLeaderWithNewLeader2Err":
      // peers are numbered region * 10 + store (FakePd.addRegion)
      return {
        regionError: {
          notLeader: { regionId: 1n, leader: { id: 12n, storeId: 2n, role: 0, isWitness: false } },
        },
      };
    case "ServerIsBusyErr":
      return busy(0);
    case "ServerIsBusyWithEstimatedWaitMsErr":
      return busy(10);
  }
}

async function run(
  w: ReturnType<typeof newWorld>,
  errors: number | ProxyErr[],
  cmd: "Get" | "Prewrite" = "Get",
) {
  w.stores.accesses = [];
  w.stores.forwarded = [];
  w.stores.script = (
    typeof errors === "number" ? Array<ProxyErr>(errors).fill("DeadLineExceededErr") : errors
  ).map(answerOf);
  const region = await w.cache.locateKey(key("key"));
  const budget = new Backoffer({ maxSleepMs: 40_000 });
  let settled = false;
  const done = w.sender
    .sendToRegion(region, cmd, (ctx) => ({ context: ctx.context, key: key("key") }) as never, {
      rpcTimeoutMs: 30_000,
      budget,
    })
    .then(
      (resp) => ({ resp: resp as { regionError?: RegionErrorProto }, err: undefined }),
      (err: Error) => ({ resp: undefined, err }),
    )
    .finally(() => {
      settled = true;
    });
  for (let i = 0; i < 400 && !settled; i++) await vi.advanceTimersByTimeAsync(50);
  const out = await done;
  const backoff = Object.entries(budget.backoffTimes()).map(([k, v]) => `${k}+${v}`);
  return { out, path: w.stores.path(), backoff, region };
}

describe("access paths with forwarding (TestReplicaReadAccessPathByProxyCase)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a leader send failure turns into a forwarded attempt, and the proxy that worked is reused", async () => {
    const w = newWorld();
    const first = await run(w, 1);
    expect(first.out.err).toBeUndefined();
    expect(first.out.resp?.regionError).toBeUndefined();
    expect(first.path).toEqual([direct(1), via(2, 1)]);
    expect(first.backoff).toEqual(["tikvRPC+1"]);
    expect(first.region.isValid).toBe(true);
    // the next request goes to the known proxy at once, without a backoff
    const second = await run(w, 0);
    expect(second.path).toEqual([via(2, 1)]);
    expect(second.backoff).toEqual([]);
    expect(second.region.isValid).toBe(true);
  });

  it("when every follower fails as a proxy the request ends with the pseudo EpochNotMatch", async () => {
    const w = newWorld();
    const r = await run(w, 3);
    expect(r.path).toEqual([direct(1), via(2, 1), via(3, 1)]);
    expect(r.backoff).toEqual(["tikvRPC+3"]);
    expect(r.out.err).toBeUndefined();
    const re = r.out.resp?.regionError;
    expect(re?.epochNotMatch?.currentRegions).toEqual([]);
    // the leader's store was given up on: its cached replica is stale, so the entry is not used again
    expect(w.cache.stores.peek(1n)?.epoch).toBe(1);
    expect(r.region.isValid).toBe(false);
  });

  it("a reachable leader is sent to directly again (TestForwarding: recovering to normal)", async () => {
    const w = newWorld();
    await run(w, 1);
    w.cache.stores.setLiveness(1n, "reachable");
    const r = await run(w, 0);
    expect(r.path).toEqual([direct(1)]);
  });

  // The later cases of TestReplicaReadAccessPathByProxyCase: region errors answered through a proxy.
  const fake = (r: Awaited<ReturnType<typeof run>>) => {
    expect(r.out.err).toBeUndefined();
    expect(r.out.resp?.regionError?.epochNotMatch?.currentRegions).toEqual([]);
  };
  const ok = (r: Awaited<ReturnType<typeof run>>) => {
    expect(r.out.err).toBeUndefined();
    expect(r.out.resp?.regionError).toBeUndefined();
  };
  const sorted = (xs: string[]) => [...xs].sort();

  it("NotLeader naming store2 through a proxy: store2 is sent to directly, then forwarded to (get)", async () => {
    const w = newWorld();
    const r = await run(w, [
      "DeadLineExceededErr",
      "NotLeaderWithNewLeader2Err",
      "DeadLineExceededErr",
      "ServerIsBusyErr",
    ]);
    expect(r.path).toEqual([direct(1), via(2, 1), direct(2), via(3, 2)]);
    expect(sorted(r.backoff)).toEqual(["tikvRPC+2", "tikvServerBusy+1"]);
    fake(r);
    expect(r.region.isValid).toBe(false);
  });

  it("ServerIsBusy from a proxy switches to the next follower as proxy, then gives up (get)", async () => {
    const w = newWorld();
    const r = await run(w, [
      "DeadLineExceededErr",
      "ServerIsBusyWithEstimatedWaitMsErr",
      "ServerIsBusyWithEstimatedWaitMsErr",
    ]);
    expect(r.path).toEqual([direct(1), via(2, 1), via(3, 1)]);
    expect(sorted(r.backoff)).toEqual(["tikvRPC+1", "tikvServerBusy+2"]);
    fake(r);
    expect(r.region.isValid).toBe(false);
    // the leader's store was given up on (client-go: replicas[0] epoch stale)
    expect(w.cache.stores.peek(1n)?.epoch).toBe(1);
  });

  it("NotLeader without a leader on a reachable leader: no proxy, a follower is tried (prewrite)", async () => {
    const w = newWorld();
    const r = await run(w, ["NotLeaderErr"], "Prewrite");
    expect(r.path).toEqual([direct(1), direct(2)]);
    expect(r.backoff).toEqual(["regionScheduling+1"]);
    ok(r);
    expect(r.region.isValid).toBe(true);
  });

  it("NotLeader through a proxy: the next follower is tried directly (prewrite)", async () => {
    const w = newWorld();
    const r = await run(w, ["DeadLineExceededErr", "NotLeaderErr"], "Prewrite");
    expect(r.path).toEqual([direct(1), via(2, 1), direct(3)]);
    expect(sorted(r.backoff)).toEqual(["regionScheduling+1", "tikvRPC+1"]);
    ok(r);
    expect(r.region.isValid).toBe(true);
  });

  it("a new leader that times out is forwarded to, and its NotLeader ends the request (prewrite)", async () => {
    const w = newWorld();
    const r = await run(w, ["NotLeaderWithNewLeader2Err", "DeadLineExceededErr", "NotLeaderErr"], "Prewrite");
    expect(r.path).toEqual([direct(1), direct(2), via(3, 2)]);
    expect(sorted(r.backoff)).toEqual(["regionScheduling+1", "tikvRPC+1"]);
    fake(r);
    expect(r.region.isValid).toBe(false);
  });

  it("without enableForwarding a follower is tried directly (no forwarded host)", async () => {
    const w = newWorld(false);
    const r = await run(w, 1);
    expect(w.stores.forwarded.every((h) => h === undefined)).toBe(true);
    expect(r.path[0]).toBe(direct(1));
    expect(r.path.some((p) => p.includes("forward_addr"))).toBe(false);
  });
});

describe("the enableForwarding option", () => {
  const pdEndpoints = ["127.0.0.1:2379"];
  it("is off by default, as client-go's EnableForwarding", () => {
    expect(resolveConnectOptions({ pdEndpoints }).enableForwarding).toBe(false);
    expect(resolveConnectOptions({ pdEndpoints, enableForwarding: true }).enableForwarding).toBe(true);
  });
  it("refuses a non-boolean with InvalidArgumentError naming it", () => {
    let err: unknown;
    try {
      resolveConnectOptions({ pdEndpoints, enableForwarding: "yes" as unknown as boolean });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).message).toContain("enableForwarding");
  });
});
