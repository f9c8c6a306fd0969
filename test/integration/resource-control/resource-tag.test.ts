// Resource group tags (client-go integration_tests/resource_tag_test.go TestResourceGroupTag,
// ported by meaning): a transaction's Get, BatchGet and Scan carry its `resourceGroupTag`; with
// only a `resourceGroupTagger` they carry the tagger's answer; with both, the tag wins. Checked
// at the store from the embedded cluster's request log (client-go: a mock client). Commits and
// lock calls are tagged too.
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, type ResourceGroupTagger } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const TAG1 = Buffer.from("TEST-TAG-1");
const TAG2 = Buffer.from("TEST-TAG-2");
const hex = (b: Buffer) => b.toString("hex");

describe.skipIf(skipOnRealCluster("v1"))("resource group tag", () => {
  const env = useCluster({ stores: 1 });
  const p = uniquePrefix("rtag");
  const tagger: ResourceGroupTagger = () => TAG2;

  const cases: Array<
    [string, { resourceGroupTag?: Buffer; resourceGroupTagger?: ResourceGroupTagger }, Buffer]
  > = [
    ["SetResourceGroupTag", { resourceGroupTag: TAG1 }, TAG1],
    ["SetResourceGroupTagger", { resourceGroupTagger: tagger }, TAG2],
    [
      "SetResourceGroupTag + SetResourceGroupTagger",
      { resourceGroupTag: TAG1, resourceGroupTagger: tagger },
      TAG1,
    ],
  ];

  it.each(cases)("TestResourceGroupTag: %s tags Get, BatchGet and Scan", async (_, opts, expected) => {
    const client = await env.connect();
    const txn = await client.txn().begin(opts);
    const rec = env.cluster.recordRequests({ rpcs: ["KvGet", "KvBatchGet", "KvScan"] });
    try {
      await txn.get(`${p}k`);
      await txn.batchGet([`${p}k`, `${p}j`]);
      await txn.scan(`${p}abc`, `${p}def`, 10);
    } finally {
      rec.stop();
    }
    await txn.rollback();
    expect(rec.entries.map((e) => e.rpc)).toEqual(["KvGet", "KvBatchGet", "KvScan"]);
    expect(rec.entries.map((e) => e.resourceGroupTag)).toEqual([hex(expected), hex(expected), hex(expected)]);
  });

  it("the tagger sees each request and tags a transaction's locks and commit too", async () => {
    const client = await env.connect();
    const seen: string[] = [];
    const txn = await client.txn().begin({
      pessimistic: true,
      resourceGroupTagger: (req) => {
        seen.push(req.command);
        return req.command === "Commit" ? Buffer.from("commit") : TAG2;
      },
    });
    const rec = env.cluster.recordRequests({ rpcs: ["KvPessimisticLock", "KvPrewrite", "KvCommit"] });
    try {
      await txn.lockKeys([`${p}w`]);
      txn.set(`${p}w`, "v");
      await txn.commit();
    } finally {
      rec.stop();
    }
    expect(seen).toEqual(["PessimisticLock", "Prewrite", "Commit"]);
    expect(rec.entries.map((e) => [e.rpc, e.resourceGroupTag])).toEqual([
      ["KvPessimisticLock", hex(TAG2)],
      ["KvPrewrite", hex(TAG2)],
      ["KvCommit", hex(Buffer.from("commit"))],
    ]);
  });

  it("a tagger answering undefined leaves the request untagged; a non-function is refused", async () => {
    const client = await env.connect();
    const snap = await client.txn().snapshot(undefined, { resourceGroupTagger: () => undefined });
    const rec = env.cluster.recordRequests({ rpcs: ["KvGet"] });
    await snap.get(`${p}k`);
    rec.stop();
    expect(rec.entries.map((e) => e.resourceGroupTag)).toEqual([""]);
    await expect(client.txn().begin({ resourceGroupTagger: "tag" as never })).rejects.toThrow(
      InvalidArgumentError,
    );
  });
});
