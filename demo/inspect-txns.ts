// The transactional workload of `npm run demo:inspect -- --txns`: pairs of transactions
// writing the same hot keys at once (one of each pair meets a write conflict or a lock), some
// with async commit or 1PC, some pessimistic, and now and then a region error or a moved
// leader, so the live view's diagrams and transaction lanes have something to show.
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedCluster } from "../src/cluster/embedded-cluster.js";
import { RegionErrors } from "../src/cluster/tikv/region-errors.js";
import type { TikvClient } from "../src/index.js";

/** One transaction of the demo: `round` picks its protocol. */
async function oneTxn(client: TikvClient, key: string, round: number): Promise<void> {
  const kind = round % 4;
  const txn = await client.txn().begin({
    asyncCommit: kind === 1,
    onePC: kind === 2,
    pessimistic: kind === 3,
  });
  try {
    if (kind === 3) await txn.lockKeys([key], { waitTimeoutMs: 500 });
    txn.set(key, `v${round}`);
    txn.set(`${key}:side${round % 3}`, "x");
    await sleep(5); // widen the window for the other transaction of the pair
    await txn.commit();
  } catch {
    if (txn.state === "active") await txn.rollback().catch(() => {});
  }
}

/**
 * Runs the workload until `signal` aborts; `log` hears about each injected trouble. Resolves
 * with the number of transactions begun.
 */
export async function runTxnWorkload(
  client: TikvClient,
  cluster: EmbeddedCluster,
  signal: AbortSignal,
  opts: { troubleEveryMs?: number; log?: (msg: string) => void } = {},
): Promise<number> {
  const every = opts.troubleEveryMs ?? 900;
  let round = 0;
  let last = Date.now();
  while (!signal.aborted) {
    const key = `hot:${round % 5}`;
    await Promise.all([oneTxn(client, key, round), oneTxn(client, key, round + 1)]);
    round += 2;
    if (Date.now() - last >= every) {
      last = Date.now();
      const rpc = (round / 2) % 2 === 0 ? "KvPrewrite" : "KvCommit";
      cluster.faults.failNext({
        rpc,
        count: 1,
        error: { regionError: RegionErrors.serverIsBusy("demo", 0, 5) },
      });
      opts.log?.(`next ${rpc} answers ServerIsBusy`);
    }
    await sleep(40);
  }
  return round;
}
