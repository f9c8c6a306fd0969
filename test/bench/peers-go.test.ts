// bench/peers' client-go program (bench/peers/go) must build and answer its line protocol, so
// that `npm run bench:peers` keeps working: built here and run for a tiny workload of each kind
// against an in-process embedded cluster. No timing is checked. Building links client-go (~3 s
// warm, minutes cold), too slow for `npm test`: it runs with TIKV_TS_PEERS_TEST=1 and Go installed
// (`TIKV_TS_PEERS_TEST=1 npx vitest run test/bench/peers-go.test.ts`), and is skipped otherwise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGoPeer, GoPeer, goAvailable } from "../../bench/peers/go-peer.js";
import { EmbeddedCluster } from "../../src/testing.js";

describe.skipIf(process.env.TIKV_TS_PEERS_TEST !== "1" || !goAvailable())(
  "bench/peers client-go program",
  () => {
    let cluster: EmbeddedCluster;
    let peer: GoPeer;

    beforeAll(async () => {
      cluster = await EmbeddedCluster.start({ stores: 1 });
      // a cold build downloads client-go's modules; later builds come from Go's caches
      const binary = buildGoPeer();
      peer = await GoPeer.start(binary, cluster.pdEndpoints);
    }, 600_000);

    afterAll(async () => {
      await peer?.stop();
      await cluster?.close();
    });

    it("runs raw and transactional workloads and reports each run", async () => {
      await peer.run("raw-batch-put", 2, 11);
      await peer.run("txn-load", 1, 1);
      for (const [w, c] of [
        ["raw-get", 4],
        ["raw-batch-get", 2],
        ["raw-scan", 1],
        ["txn-commit", 2],
        ["snapshot-batch-get", 2],
      ] as const) {
        const r = await peer.run(w, c, 5, `peers-test/${w}/`);
        expect(r.ops).toBe(5);
        expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
        expect(r.cpuUs).toBeGreaterThan(0);
      }
    });

    it("answers an unknown workload with an error, and keeps serving", async () => {
      await expect(peer.run("no-such" as "raw-get", 1, 1)).rejects.toThrow(/unknown workload/);
      expect((await peer.run("raw-get", 1, 2)).ops).toBe(2);
    });
  },
);
