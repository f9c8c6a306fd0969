// Fallback cluster process for the raw bench while the CLI's embedded cluster has no PD of its
// own: an EmbeddedCluster plus the stand-in topology PD; prints one JSON line {pd: [...]}, runs
// until SIGTERM/SIGINT or until its stdin closes.
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { TopologyPd } from "../../test/support/topology-pd.js";

const cluster = await EmbeddedCluster.start({ stores: 1 });
const pd = new TopologyPd(cluster.topology, cluster.clusterId, false);
await pd.start();
process.stdout.write(`${JSON.stringify({ pd: [pd.endpoint] })}\n`);
await new Promise<void>((resolve) => {
  process.once("SIGTERM", resolve);
  process.once("SIGINT", resolve);
  process.stdin.once("end", resolve);
  process.stdin.resume();
});
pd.stop();
await cluster.close();
