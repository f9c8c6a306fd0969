// `npm run demo:inspect [-- --port 7070 --seconds 60]`: the live view of the client's
// statecharts. Starts an embedded cluster, connects a client with `inspect: { port }`, prints
// the page's URL and runs a raw workload that meets region errors on purpose (leader
// transfers, splits, NotLeader / ServerIsBusy faults, a store restart) so the PD, store,
// retry and region actors change state while you watch. With --txns it runs conflicting
// transactions instead (the committer diagrams and the transactions pane). Stops after
// --seconds (default 60; 0 = until Ctrl-C).

import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { EmbeddedCluster } from "../src/cluster/embedded-cluster.js";
import { RegionErrors } from "../src/cluster/tikv/region-errors.js";
import { TikvClient } from "../src/index.js";
import { runTxnWorkload } from "./inspect-txns.js";

/** One round of trouble for the client, chosen by `round`. */
async function trouble(cluster: EmbeddedCluster, round: number): Promise<string> {
  const key = Buffer.from(`live:${round % 50}`);
  const region = cluster.topology.locateKey(key);
  if (!region) return "no region";
  switch (round % 5) {
    case 0: {
      const to = region.peers.find((p) => p.storeId !== region.leader?.storeId);
      if (to) cluster.topology.transferLeader(region.id, to.storeId);
      return `leader of region ${region.id} moved to store ${to?.storeId}`;
    }
    case 1:
      cluster.faults.failNext({
        rpc: "RawGet",
        count: 2,
        error: { regionError: RegionErrors.notLeader(region.id) },
      });
      return `next 2 RawGet answer NotLeader (no leader known)`;
    case 2: {
      const splitAt = `live:${round % 50}x${round}`;
      cluster.topology.split(region.id, [splitAt]);
      return `region ${region.id} split at ${splitAt}`;
    }
    case 3:
      cluster.faults.failNext({
        rpc: "RawPut",
        count: 1,
        error: { regionError: RegionErrors.serverIsBusy("scheduler is busy", 0, 5) },
      });
      return "next RawPut answers ServerIsBusy";
    default:
      cluster.faults.failNext({
        rpc: "RawGet",
        count: 1,
        error: { regionError: RegionErrors.regionNotFound(region.id) },
      });
      return `next RawGet answers RegionNotFound for region ${region.id}`;
  }
}

/**
 * Runs the demo workload until `signal` aborts: puts and gets over 50 keys, with one
 * trouble-maker per `troubleEveryMs`. Reports each trouble through `log`.
 */
export async function runInspectWorkload(
  client: TikvClient,
  cluster: EmbeddedCluster,
  signal: AbortSignal,
  opts: { troubleEveryMs?: number; log?: (msg: string) => void } = {},
): Promise<{ ops: number; errors: number }> {
  const raw = client.raw();
  const every = opts.troubleEveryMs ?? 700;
  let ops = 0;
  let errors = 0;
  let round = 0;
  let lastTrouble = Date.now();
  while (!signal.aborted) {
    const i = ops % 50;
    try {
      if (ops % 3 === 0) await raw.put(`live:${i}`, `v${ops}`, { timeoutMs: 5_000 });
      else await raw.get(`live:${i}`, { timeoutMs: 5_000 });
    } catch (e) {
      errors++;
      opts.log?.(`request failed: ${(e as Error).message}`);
    }
    ops++;
    if (Date.now() - lastTrouble >= every) {
      lastTrouble = Date.now();
      const what = await trouble(cluster, round++);
      opts.log?.(what);
    }
    // a gentle pace keeps the page readable
    await sleep(ops % 10 === 0 ? 25 : 2);
  }
  return { ops, errors };
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
}

async function main(): Promise<void> {
  const port = arg("port", 0);
  const seconds = arg("seconds", 60);
  const log = (msg: string) => process.stdout.write(`${msg}\n`);
  const txns = process.argv.includes("--txns");
  // transactions need region boundaries in the memcomparable form (TiDB's); raw KV the raw one
  const cluster = await EmbeddedCluster.start(
    txns
      ? { stores: 3, splitKeys: ["hot:2", "hot:4"], regionKeyEncoding: "memcomparable" }
      : { stores: 3, regions: 4 },
  );
  const client = await TikvClient.connect({
    pdEndpoints: cluster.pdEndpoints,
    inspect: { port, onListening: (url) => log(`live view: ${url}`) },
  });
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  const timer = seconds > 0 ? setTimeout(() => ac.abort(), seconds * 1000) : undefined;
  try {
    if (txns) log(`done: ${await runTxnWorkload(client, cluster, ac.signal, { log })} transactions`);
    else {
      const r = await runInspectWorkload(client, cluster, ac.signal, { log });
      log(`done: ${r.ops} requests, ${r.errors} failed`);
    }
  } finally {
    if (timer) clearTimeout(timer);
    await client.close();
    await cluster.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
