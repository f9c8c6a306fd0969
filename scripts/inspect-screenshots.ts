// `node --import tsx scripts/inspect-screenshots.ts`: regenerates the pictures of the README's
// "Observing transactions" section: docs/live-view-txns.png (the live view during the demo's
// conflicting transactions), docs/trace-example.json / .svg and docs/trace.png (a traced
// transaction that meets ServerIsBusy, then loses a write conflict, drawn by the trace
// renderer). Needs Chromium (scripts/ensure-chromium.sh prints its path).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { runTxnWorkload } from "../demo/inspect-txns.js";
import { drawnCharts } from "../src/actors/inspect/charts.js";
import { renderTraceHtml, renderTraceSvg } from "../src/actors/inspect/trace-view.js";
import { EmbeddedCluster } from "../src/cluster/embedded-cluster.js";
import { RegionErrors } from "../src/cluster/tikv/region-errors.js";
import { TikvClient, traceOf } from "../src/index.js";

const root = resolve(import.meta.dirname, "..");
const docs = join(root, "docs");
const chromiumPath = execFileSync("bash", [join(root, "scripts/ensure-chromium.sh")], { encoding: "utf8" })
  .trim()
  .split("\n")
  .at(-1) as string;

const cluster = await EmbeddedCluster.start({
  stores: 3,
  splitKeys: ["hot:2", "hot:4"],
  regionKeyEncoding: "memcomparable",
});
const client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, inspect: { port: 0 } });
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  await page.goto(client.inspection?.url as string);
  await page.waitForSelector("body[data-live='1']");
  const ac = new AbortController();
  const work = runTxnWorkload(client, cluster, ac.signal, { troubleEveryMs: 300 });
  await page.waitForSelector(".card[data-machine='committer'] svg .node.active", { timeout: 60_000 });
  await page.waitForFunction("Number(document.body.dataset.txns || 0) >= 10", undefined, { timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 2_000));
  await page.screenshot({ path: join(docs, "live-view-txns.png"), fullPage: true });
  ac.abort();
  await work.catch(() => {});

  // a traced transaction: its prewrite meets ServerIsBusy once, then a write conflict
  const txns = client.txn();
  const loser = await txns.begin({ trace: true });
  const winner = await txns.begin();
  loser.set("acct:1", "a");
  loser.set("hot:3", "a");
  winner.set("acct:1", "b");
  await winner.commit();
  cluster.faults.failNext({
    rpc: "KvPrewrite",
    count: 1,
    error: { regionError: RegionErrors.serverIsBusy("busy", 0, 5) },
  });
  const err = await loser.commit().then(
    () => undefined,
    (e: unknown) => e,
  );
  await txns.whenIdle();
  const trace = loser.trace() ?? traceOf(err);
  if (!trace) throw new Error("no trace recorded");
  writeFileSync(join(docs, "trace-example.json"), `${JSON.stringify(trace, null, 1)}\n`);
  const charts = await drawnCharts(trace.machines);
  writeFileSync(join(docs, "trace-example.svg"), renderTraceSvg(trace, charts));
  const tracePage = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await tracePage.setContent(renderTraceHtml(trace, charts));
  await tracePage.screenshot({ path: join(docs, "trace.png"), fullPage: true });
  console.log(
    `wrote docs/live-view-txns.png, docs/trace.png, docs/trace-example.{json,svg} (${trace.outcome})`,
  );
} finally {
  await browser.close();
  await client.close();
  await cluster.close();
}
