// The live view in a real browser: a client connected with `inspect: { port: 0 }` runs the
// demo workload on the embedded cluster while headless Chromium (Debian's, driven by
// playwright-core) loads the page; the rows must show actors whose states change. Keeps a
// screenshot in docs/live-view.png. Chromium is installed by scripts/ensure-chromium.sh when
// missing; if that is impossible the test is skipped with the reason (test/support/chromium.ts).
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInspectWorkload } from "../../demo/inspect.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { findChromium, launchChromium } from "../support/chromium.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const found = findChromium();
if (!found.path) console.warn(`live-view browser test skipped: no Chromium (${found.why})`);

describe.skipIf(!found.path)("live view in Chromium", () => {
  let cluster: EmbeddedCluster;
  let client: TikvClient;
  let browser: Browser;
  const ac = new AbortController();
  let workload: Promise<{ ops: number; errors: number }>;

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3, regions: 4 });
    client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, inspect: { port: 0 } });
    browser = await launchChromium(found.path as string);
  }, 60_000);

  afterAll(async () => {
    ac.abort();
    await workload?.catch(() => {});
    await browser?.close();
    await client?.close();
    await cluster?.close();
  }, 30_000);

  it("shows each actor's state changing during a workload", async () => {
    const url = client.inspection?.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    await page.goto(url as string);
    await page.waitForSelector("body[data-live='1']", { timeout: 10_000 });

    workload = runInspectWorkload(client, cluster, ac.signal, { troubleEveryMs: 300 });

    // PD and store rows appear with their states
    await page.waitForSelector("tr.machine-pd td.state", { timeout: 10_000 });
    await page.waitForSelector("tr.machine-store", { timeout: 10_000 });
    expect(await page.textContent("tr.machine-pd td.state")).toMatch(/^connected/);

    // retry actors come and go as the workload meets region errors: their states change
    // (page-side code as strings: this file is compiled without the DOM lib)
    await page.waitForFunction("Number(document.body.dataset.changes || 0) >= 10", undefined, {
      timeout: 20_000,
    });
    await page.waitForSelector("tr.machine-retry", { timeout: 20_000 });
    const before = Number(await page.getAttribute("body", "data-changes"));
    await page.waitForFunction(`Number(document.body.dataset.changes || 0) > ${before}`, undefined, {
      timeout: 20_000,
    });

    const states = await page.$$eval("#actors tr", (trs) =>
      trs.map((tr) => ({ machine: tr.className.split(" ")[0], state: tr.getAttribute("data-state") ?? "" })),
    );
    const machines = new Set(states.map((s) => s.machine));
    expect(machines.has("machine-pd")).toBe(true);
    expect(machines.has("machine-store")).toBe(true);
    expect(machines.has("machine-retry")).toBe(true);
    for (const s of states) expect(s.state).not.toBe("");
    const log = await page.$$eval("#log div", (ds) => ds.map((d) => d.textContent ?? ""));
    expect(
      log.some((l) =>
        / retry .*→ (succeeded|backingOff|sending|selecting|relocating|returned|failed)/.test(l),
      ),
    ).toBe(true);

    // docs/live-view.png is written when missing or with UPDATE_LIVE_VIEW=1 (keeps the tree clean)
    const docShot = resolve(ROOT, "docs/live-view.png");
    const target =
      !existsSync(docShot) || process.env.UPDATE_LIVE_VIEW === "1"
        ? docShot
        : join(tmpdir(), "live-view.png");
    mkdirSync(dirname(target), { recursive: true });
    const png = await page.screenshot({ path: target, fullPage: true });
    expect(png.subarray(1, 4).toString()).toBe("PNG");
  }, 90_000);
});
