// The embedded PD's resource manager (PD pkg/mcs/resourcemanager/server): group CRUD with PD's
// rules over real gRPC, and token grants that throttle (GroupTokenBucket: grants from the bucket
// at once, loans trickled over the period, a reserve once the loans are used up).
// Ported by meaning (test/ported/resource-control.md): PD server token_buckets_test
// TestGroupTokenBucketRequest / grpc_service CRUD cases.

import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ResourceGroupRegistry } from "../../../src/cluster/pd/resource-manager/groups.js";
import { resourceManagerOf } from "../../../src/cluster/pd/resource-manager/service.js";
import { GroupTokenBucket } from "../../../src/cluster/pd/resource-manager/token-bucket.js";
import {
  DeleteResourceGroupRequest,
  GetResourceGroupRequest,
  GroupMode,
  ListResourceGroupsRequest,
  PutResourceGroupRequest,
  type ResourceGroup,
  ResourceManagerClient,
  TokenBucketsRequest,
  type TokenBucketsResponse,
} from "../../../src/proto/resource_manager.js";
import { type PdFixture, startPd } from "./helpers.js";

let fx: PdFixture | undefined;
let rm: ResourceManagerClient | undefined;
afterEach(async () => {
  rm?.close();
  await fx?.close();
  fx = rm = undefined;
});

function ruGroup(name: string, fillRate: number, burstLimit: number, priority = 8): ResourceGroup {
  return {
    name,
    mode: GroupMode.RUMode,
    priority,
    rUSettings: {
      rU: {
        settings: { fillRate: BigInt(fillRate), burstLimit: BigInt(burstLimit), maxTokens: 0 },
        tokens: 0,
      },
    },
  };
}

// request types, to complete partial requests before they are encoded
const REQ = {
  listResourceGroups: ListResourceGroupsRequest,
  getResourceGroup: GetResourceGroupRequest,
  addResourceGroup: PutResourceGroupRequest,
  modifyResourceGroup: PutResourceGroupRequest,
  deleteResourceGroup: DeleteResourceGroupRequest,
} as const;

// promisified unary calls of the generated client
function unary<Res>(c: ResourceManagerClient, m: keyof typeof REQ, req: object): Promise<Res> {
  const full = (REQ[m] as { fromPartial(o: object): unknown }).fromPartial(req);
  return new Promise((resolve, reject) =>
    (c[m] as unknown as (r: unknown, cb: (e: grpc.ServiceError | null, r: Res) => void) => void).call(
      c,
      full,
      (e, r) => (e ? reject(e) : resolve(r)),
    ),
  );
}

describe("ResourceManager service: groups", () => {
  it("has 'default' (RU mode, unlimited, medium priority); add / get / list / modify / delete follow PD", async () => {
    fx = await startPd();
    rm = new ResourceManagerClient(fx.pd.endpoints[0] as string, grpc.credentials.createInsecure());
    const list0 = await unary<{ groups: ResourceGroup[] }>(rm, "listResourceGroups", {});
    expect(list0.groups.map((g) => g.name)).toEqual(["default"]);
    const def = list0.groups[0] as ResourceGroup;
    expect(def).toMatchObject({ mode: GroupMode.RUMode, priority: 8 });
    expect(def.rUSettings?.rU?.settings?.burstLimit).toBe(-1n);

    const put = await unary<{ body: string }>(rm, "addResourceGroup", { group: ruGroup("rg1", 100, 200) });
    expect(put.body).toBe("Success!");
    const got = await unary<{ group: ResourceGroup }>(rm, "getResourceGroup", { resourceGroupName: "rg1" });
    expect(got.group.rUSettings?.rU?.settings).toMatchObject({ fillRate: 100n, burstLimit: 200n });

    await unary(rm, "modifyResourceGroup", { group: ruGroup("rg1", 50, 60, 16) });
    const mod = await unary<{ group: ResourceGroup }>(rm, "getResourceGroup", { resourceGroupName: "rg1" });
    expect(mod.group.priority).toBe(16);
    expect(mod.group.rUSettings?.rU?.settings).toMatchObject({ fillRate: 50n, burstLimit: 60n });

    // PD's refusals, with PD's texts (clients match on "resource group does not exist")
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
    const missing = await err(unary(rm, "getResourceGroup", { resourceGroupName: "nope" }));
    expect(missing?.code).toBe(grpc.status.UNKNOWN);
    expect(missing?.details).toContain("the nope resource group does not exist");
    expect(
      (await err(unary(rm, "modifyResourceGroup", { group: ruGroup("nope", 1, 1) })))?.details,
    ).toContain("does not exist");
    expect(
      (await err(unary(rm, "addResourceGroup", { group: ruGroup("x".repeat(33), 1, 1) })))?.details,
    ).toContain("the group name");
    expect((await err(unary(rm, "addResourceGroup", { group: ruGroup("p", 1, 1, 17) })))?.details).toContain(
      "the group priority",
    );
    expect(
      (await err(unary(rm, "deleteResourceGroup", { resourceGroupName: "default" })))?.details,
    ).toContain("cannot delete reserved group");
    await unary(rm, "deleteResourceGroup", { resourceGroupName: "rg1" });
    const list1 = await unary<{ groups: ResourceGroup[] }>(rm, "listResourceGroups", {});
    expect(list1.groups.map((g) => g.name)).toEqual(["default"]);
    expect((await err(unary(rm, "deleteResourceGroup", { resourceGroupName: "rg1" })))?.details).toContain(
      "does not exist",
    );
  });

  it("AcquireTokenBuckets answers each message in order; consumption lands in the group's stats", async () => {
    fx = await startPd();
    rm = new ResourceManagerClient(fx.pd.endpoints[0] as string, grpc.credentials.createInsecure());
    await unary(rm, "addResourceGroup", { group: ruGroup("small", 10, 10) });
    const stream = rm.acquireTokenBuckets();
    const answers: TokenBucketsResponse[] = [];
    const two = new Promise<void>((resolve) =>
      stream.on("data", (r: TokenBucketsResponse) => {
        answers.push(r);
        if (answers.length === 2) resolve();
      }),
    );
    const ask = (value: number) =>
      stream.write(
        TokenBucketsRequest.fromPartial({
          requests: [
            {
              resourceGroupName: "small",
              request: { $case: "ruItems", ruItems: { requestRU: [{ type: 0, value }] } },
              consumptionSinceLastRequest: { rRU: 1, wRU: 2, kvWriteRpcCount: 1 },
            },
            {
              resourceGroupName: "missing",
              request: { $case: "ruItems", ruItems: { requestRU: [{ type: 0, value }] } },
            },
          ],
          targetRequestPeriodMs: 1000n,
          clientUniqueId: 7n,
        }),
      );
    ask(5);
    ask(1000);
    await two;
    stream.end();
    // unknown groups are skipped, as PD does
    expect(answers.map((a) => a.responses.map((r) => r.resourceGroupName))).toEqual([["small"], ["small"]]);
    const first = answers[0]?.responses[0]?.grantedRUTokens[0];
    expect(first?.grantedTokens?.tokens).toBe(5);
    expect(first?.trickleTimeMs).toBe(0n);
    // the second asks far past the 10-RU burst: a loan, trickled over the period
    const second = answers[1]?.responses[0]?.grantedRUTokens[0];
    expect(second?.trickleTimeMs).toBeGreaterThan(0n);
    expect(second?.grantedTokens?.tokens ?? 0).toBeLessThan(1000);
    const reg = resourceManagerOf(fx.pd.state);
    expect(reg.grantStats("small")).toMatchObject({ requests: 2, requested: 1005, trickled: 1 });
    expect(reg.consumption("small")).toMatchObject({ rRU: 2, wRU: 4, kvWriteRpcCount: 2 });
  });
});

describe("GroupTokenBucket (PD token_buckets.go)", () => {
  it("grants from the bucket at once, lends at most loanCoefficient periods, then only the reserve", () => {
    // fill 100 RU/s, burst 100 (<= fill: loan coefficient 1), period 1 s
    const tb = new GroupTokenBucket({ fillRate: 100, burstLimit: 100n });
    // first use: the bucket starts at PD's initial 100 000 tokens
    expect(tb.request(0, 1000, 1000, 1n)).toMatchObject({ tokens: 1000, trickleTimeMs: 0 });
    // next request: refill caps the bucket at the burst; 100 available, the rest lent over the period
    const g = tb.request(1, 300, 1000, 1n);
    expect(g.trickleTimeMs).toBeGreaterThan(0);
    expect(g.tokens).toBeGreaterThanOrEqual(100);
    expect(g.tokens).toBeLessThanOrEqual(200);
    // in debt past the loan ceiling: only the reserve (half a period's fill)
    const r = tb.request(2, 10_000, 1000, 1n);
    expect(r.tokens).toBeCloseTo(50, 6);
    expect(r.trickleTimeMs).toBe(1000);
  });

  it("a client asking for nothing gets nothing and gives up its slot; unlimited groups grant all", () => {
    const tb = new GroupTokenBucket({ fillRate: 10, burstLimit: 10n });
    expect(tb.request(0, 0, 1000, 1n)).toMatchObject({ tokens: 0, trickleTimeMs: 0 });
    const unlimited = new GroupTokenBucket({ fillRate: 0, burstLimit: -1n });
    expect(unlimited.request(0, 1e9, 1000, 1n)).toMatchObject({ tokens: 1e9, trickleTimeMs: 0 });
  });

  it("two clients share the fill rate evenly", () => {
    const reg = new ResourceGroupRegistry(() => 0);
    reg.add(ruGroup("g", 100, 100));
    const tb = new GroupTokenBucket({ fillRate: 100, burstLimit: 100n });
    tb.request(0, 10, 1000, 1n);
    const a = tb.request(1000, 1000, 1000, 2n);
    // client 2's slot fills at 50 RU/s: its loan is bounded by its share
    expect(a.tokens).toBeLessThan(200);
    expect(a.trickleTimeMs).toBeGreaterThan(0);
  });
});
