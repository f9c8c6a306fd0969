// Access paths with forwarding on (client-go internal/locate/replica_selector_test.go
// TestReplicaReadAccessPathByProxyCase and the proxy part of region_request3_test.go
// TestForwarding): the leader's store fails a send and is found unreachable, so the next attempt
// goes to a follower carrying the leader's address as the forwarded host; the follower that
// worked is reused; when every follower fails as a proxy the region is given up with the pseudo
// EpochNotMatch; and a reachable leader is sent to directly again.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import type { StoreAddress, StoreSendOptions } from "../../../src/actors/request/store-sender.js";
import { resolveConnectOptions } from "../../../src/api/options.js";
import { InvalidArgumentError } from "../../../src/errors/index.js";
import type { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { FakePd, key, ScriptedStores } from "./fakes.js";

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

async function run(w: ReturnType<typeof newWorld>, errors: number) {
  w.stores.accesses = [];
  w.stores.forwarded = [];
  w.stores.script = Array.from({ length: errors }, () => ({ error: "timeout" as const }));
  const region = await w.cache.locateKey(key("key"));
  const budget = new Backoffer({ maxSleepMs: 40_000 });
  let settled = false;
  const done = w.sender
    .sendToRegion(region, "Get", (ctx) => ({ context: ctx.context, key: key("key") }) as never, {
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
  for (let i = 0; i < 200 && !settled; i++) await vi.advanceTimersByTimeAsync(50);
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
