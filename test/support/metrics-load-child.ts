// Child process of test/integration/metrics-off.test.ts: runs a raw + txn workload against the
// given PD with metrics off (`off`) or on (`on`) and reports whether prom-client was loaded.
// prom-client is CommonJS, so once imported (even from ESM) it sits in the CJS module cache.
import { createRequire } from "node:module";
import { sep } from "node:path";
import { TikvClient } from "../../src/index.js";

const [mode, pd] = process.argv.slice(2) as [string, string];
const client = await TikvClient.connect({ pdEndpoints: [pd], metrics: mode === "on" });
const raw = client.raw();
await raw.put("metrics-load", "1");
await raw.get("metrics-load");
const txn = await client.txn().begin();
txn.set("metrics-load-txn", "1");
await txn.commit();
await client.close();
const cache = createRequire(import.meta.url).cache;
const loaded = Object.keys(cache).some((k) => k.includes(`${sep}prom-client${sep}`));
process.stdout.write(`${JSON.stringify({ loaded })}\n`);
