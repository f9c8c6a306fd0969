// `npm run demo`: a raw KV walk-through on the embedded cluster (or on the cluster named by
// TIKV_PD_ENDPOINTS): put/get, batches, scan, iterate, CAS, TTL, delete range, with a region
// split and a leader transfer mid-way. Prints what it does; exits 0 and cleans up.

import { EmbeddedCluster } from "../src/cluster/embedded-cluster.js";
import { TikvClient } from "../src/index.js";
import { runBank } from "./bank.js";

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const show = (b: Buffer | undefined) => (b === undefined ? "(missing)" : JSON.stringify(b.toString()));

async function main(): Promise<void> {
  const real = process.env.TIKV_PD_ENDPOINTS?.split(",").filter(Boolean);
  let cluster: EmbeddedCluster | undefined;
  let pdEndpoints: string[];
  if (real) {
    pdEndpoints = real;
    log(`using the cluster at ${real.join(", ")}`);
  } else {
    cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"], apiVersion: "v1ttl" });
    pdEndpoints = cluster.pdEndpoints;
    log(`started an embedded cluster: 3 stores, 2 regions, API v1ttl, PD at ${pdEndpoints.join(",")}`);
  }

  const client = await TikvClient.connect({ pdEndpoints, apiVersion: real ? undefined : "v1ttl" });
  try {
    const raw = client.raw();
    log(`connected (cluster id ${client.clusterId})`);
    await raw.deleteRange("demo:", "demo;");

    await raw.put("demo:greeting", "hello");
    log(`put demo:greeting; get -> ${show(await raw.get("demo:greeting"))}`);

    const users = Array.from({ length: 10 }, (_, i) => `demo:user:${i}`);
    await raw.batchPut(
      users,
      users.map((_, i) => `user #${i}`),
    );
    const got = await raw.batchGet(["demo:user:3", "demo:user:99", "demo:user:7"]);
    log(`batchPut 10 users; batchGet [3, 99, 7] -> ${got.map(show).join(", ")}`);

    const page = await raw.scan("demo:user:", "demo:user;", 4);
    log(`scan limit 4 -> ${page.map((p) => p.key.toString()).join(", ")}`);
    const rev = await raw.reverseScan("demo:user;", "demo:user:", 3, { keyOnly: true });
    log(`reverseScan limit 3 (keys only) -> ${rev.map((p) => p.key.toString()).join(", ")}`);

    if (cluster) {
      const region = cluster.topology.locateKey(Buffer.from("demo:user:5"));
      if (region) {
        cluster.topology.splitRegion(region.id, ["demo:user:5"]);
        log(`split region ${region.id} at demo:user:5 (the client learns it from TiKV's EpochNotMatch)`);
      }
      const r2 = cluster.topology.locateKey(Buffer.from("demo:user:2"));
      const to = r2?.peers.find((p) => p.storeId !== r2.leader?.storeId);
      if (r2 && to) {
        cluster.topology.transferLeader(r2.id, to.storeId);
        log(
          `moved the leader of region ${r2.id} to store ${to.storeId} (the client follows TiKV's NotLeader hint)`,
        );
      }
    } else {
      log("(real cluster: skipping the split and leader transfer)");
    }

    client.resetMetrics();
    let n = 0;
    for await (const p of raw.iterate("demo:user:", "demo:user;", { pageSize: 3 })) {
      n++;
      if (n === 1) log(`iterate first pair -> ${p.key.toString()} = ${show(p.value)}`);
    }
    const m = client.metrics();
    log(
      `iterate (page size 3) visited ${n} pairs across regions; region errors handled: ${JSON.stringify(m.regionErrors)}`,
    );

    const cas = client.raw({ atomic: true });
    await cas.delete("demo:counter");
    let r = await cas.compareAndSwap("demo:counter", undefined, "1");
    log(`CAS absent -> "1": swapped=${r.swapped}`);
    r = await cas.compareAndSwap("demo:counter", "0", "2");
    log(`CAS "0" -> "2": swapped=${r.swapped}, current=${show(r.previousValue)}`);
    r = await cas.compareAndSwap("demo:counter", "1", "2");
    log(`CAS "1" -> "2": swapped=${r.swapped}; get -> ${show(await cas.get("demo:counter"))}`);

    try {
      await raw.put("demo:session", "token", { ttl: 60 });
      log(`put demo:session with ttl 60s; getKeyTTL -> ${await raw.getKeyTTL("demo:session")}s`);
    } catch (e) {
      log(`TTL not enabled on this cluster: ${(e as Error).message}`);
    }

    const sum = await raw.checksum("demo:", "demo;");
    log(
      `checksum of demo:* -> ${sum.totalKvs} pairs, ${sum.totalBytes} bytes, crc64xor ${sum.crc64Xor.toString(16)}`,
    );

    await raw.deleteRange("demo:user:", "demo:user;");
    log(`deleteRange demo:user:* -> ${(await raw.scan("demo:user:", "demo:user;", 100)).length} users left`);
    await raw.deleteRange("demo:", "demo;");
  } finally {
    await client.close();
    await cluster?.close();
  }

  // Transactions. A cluster whose region boundaries are memcomparable-encoded, as TiKV keeps
  // them for transactional keys.
  let txnCluster: EmbeddedCluster | undefined;
  let txnEndpoints = pdEndpoints;
  if (!real) {
    txnCluster = await EmbeddedCluster.start({
      stores: 3,
      splitKeys: ["bank:acct:03", "bank:acct:06"],
      regionKeyEncoding: "memcomparable",
    });
    txnEndpoints = txnCluster.pdEndpoints;
    log(`started a transactional embedded cluster: 3 stores, 3 regions, PD at ${txnEndpoints.join(",")}`);
  }
  const txnClient = await TikvClient.connect({ pdEndpoints: txnEndpoints });
  try {
    await runBank(txnClient, log);
    log("done");
  } finally {
    await txnClient.close();
    await txnCluster?.close();
  }
}

main().catch((e) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
