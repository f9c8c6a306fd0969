// The live view's diagrams and transactions pane in a real browser: while the demo's
// conflicting transactions run (`npm run demo:inspect -- --txns`: pairs writing the same hot
// keys, one of each pair meeting the other's lock or a write conflict), headless Chromium
// (Debian's, via playwright-core) must show an actor's diagram whose highlighted state moves
// and the last transition marked, and transaction lanes listing the phases they passed.
// Skipped with the reason when Chromium cannot be had (test/support/chromium.ts).
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTxnWorkload } from "../../demo/inspect-txns.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { findChromium, launchChromium } from "../support/chromium.js";

const found = findChromium();
if (!found.path) console.warn(`live-txns browser test skipped: no Chromium (${found.why})`);

// Page-side code is passed as strings: this file is compiled without the DOM lib.
// Records, per diagram card, every state node that was ever highlighted: a class change whose
// old value had "active" names a state that was highlighted before; cards painted while not yet
// attached are caught by reading their current highlight on every batch of mutations.
const RECORD_HIGHLIGHTS = `(() => {
  const seen = (window.__highlights = {});
  const note = (card, node) => {
    if (!card || !node) return;
    const key = card.dataset.machine + " " + card.dataset.session;
    (seen[key] ||= []).includes(node.dataset.state) || seen[key].push(node.dataset.state);
  };
  new MutationObserver((records) => {
    for (const r of records)
      if (r.type === "attributes" && / active( |$)/.test(" " + (r.oldValue || "")))
        note(r.target.closest(".card"), r.target);
    for (const card of document.querySelectorAll("#diagrams .card"))
      for (const n of card.querySelectorAll("svg .node.active")) note(card, n);
  }).observe(document.getElementById("diagrams"), {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class"], attributeOldValue: true,
  });
})()`;

/** Some card of `machine` highlighted at least two different states. */
const HIGHLIGHT_MOVED = (machine: string) =>
  `Object.entries(window.__highlights || {}).some(([k, s]) => k.startsWith(${JSON.stringify(machine)} + " ") && s.length >= 2)`;

interface LaneDom {
  outcome: string;
  states: string[];
  phases: string[];
  rpcs: string;
}

describe.skipIf(!found.path)("live view of conflicting transactions in Chromium", () => {
  let cluster: EmbeddedCluster;
  let client: TikvClient;
  let browser: Browser;
  const ac = new AbortController();
  let workload: Promise<number> | undefined;

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([
      EmbeddedCluster.start({ stores: 3, splitKeys: ["hot:2", "hot:4"], regionKeyEncoding: "memcomparable" }),
      launchChromium(found.path as string),
    ]);
    client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, inspect: { port: 0 } });
  }, 60_000);

  afterAll(async () => {
    ac.abort();
    await workload?.catch(() => {});
    await browser?.close();
    await client?.close();
    await cluster?.close();
  }, 30_000);

  it("highlights the committer's state as it moves and lists each transaction's phases", async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    await page.goto(client.inspection?.url as string);
    await page.waitForSelector("body[data-live='1']", { timeout: 10_000 });
    await page.evaluate(RECORD_HIGHLIGHTS);

    workload = runTxnWorkload(client, cluster, ac.signal, { troubleEveryMs: 300 });

    // a committer's diagram: its highlighted node moves from state to state, one at a time,
    // and the edge it took is marked
    await page.waitForFunction(HIGHLIGHT_MOVED("committer"), undefined, { timeout: 20_000 });
    const highlights = (await page.evaluate("window.__highlights")) as Record<string, string[]>;
    const moved = Object.entries(highlights).filter(([k, s]) => k.startsWith("committer ") && s.length >= 2);
    for (const [, states] of moved) for (const s of states) expect(s).toMatch(/^committer\./);
    expect(moved.flatMap(([, s]) => s)).toContain("committer.prewriting");
    await page.waitForSelector("#diagrams .card[data-machine='committer'] svg .edge.taken", {
      timeout: 10_000,
    });
    const cards = await page.$$eval("#diagrams .card", (els) =>
      els.map((el) => ({
        state: el.getAttribute("data-state") ?? "",
        active: el.querySelectorAll("svg .node.active").length,
        hasSvg: el.querySelector("svg") !== null,
      })),
    );
    // every drawn card highlights its current state(s): one node per parallel region at most
    for (const c of cards.filter((c) => c.hasSvg)) {
      expect(c.active).toBeGreaterThanOrEqual(1);
      expect(c.active).toBeLessThanOrEqual(c.state.split("|").length);
    }

    // lanes: a committed transaction listing its phases in order, and one that met the other
    // side of a conflict (a lock or a write conflict) listing its own
    const lanesDom = async (): Promise<LaneDom[]> =>
      page.$$eval("#lanes .lane", (els) =>
        els.map((el) => ({
          outcome: el.getAttribute("data-outcome") ?? "",
          states: (el.getAttribute("data-states") ?? "").split(",").filter(Boolean),
          phases: [...el.querySelectorAll(".phases span")].map((s) => s.textContent ?? ""),
          rpcs: el.querySelector(".rpcs")?.textContent ?? "",
        })),
      );
    await page.waitForFunction(
      `[...document.querySelectorAll("#lanes .lane[data-outcome='committed']")].some((l) => l.querySelectorAll(".phases span").length >= 3)
        && [...document.querySelectorAll("#lanes .lane")].some((l) => l.querySelector(".rpcs").textContent.includes("keyError") && l.querySelectorAll(".phases span").length >= 2)`,
      undefined,
      { timeout: 20_000 },
    );
    const lanes = await lanesDom();
    const committed = lanes.find((l) => l.outcome === "committed" && l.phases.length >= 3) as LaneDom;
    expect(committed.phases.map((p) => p.split(" ")[0])).toEqual(committed.states);
    // prewrite before commit (async commit / 1PC fetch a ts or skip steps around them)
    expect(committed.states.indexOf("prewriting")).toBeGreaterThanOrEqual(0);
    expect(committed.states.indexOf("committed")).toBeGreaterThan(committed.states.indexOf("prewriting"));
    for (const p of committed.phases) expect(p).toMatch(/^[\w.]+ \+\d+ms( \(\d+ms\))?$/);
    const at = (p: string) => Number(/\+(\d+)ms/.exec(p)?.[1]);
    for (let i = 1; i < committed.phases.length; i++)
      expect(at(committed.phases[i] as string)).toBeGreaterThanOrEqual(at(committed.phases[i - 1] as string));
    // the other side of a conflict: its prewrite or lock met the first one's lock or write
    const loser = lanes.find((l) => l.rpcs.includes("keyError") && l.phases.length >= 2) as LaneDom;
    expect(loser.states).toContain("prewriting");
    expect(loser.phases.map((p) => p.split(" ")[0])).toEqual(loser.states);
  }, 60_000);
});
