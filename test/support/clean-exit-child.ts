// Child process of test/api/clean-exit.test.ts: connects, works, closes, and must then exit on
// its own (no timers, sockets or streams left behind). Never calls process.exit.
import { TikvClient } from "../../src/index.js";

const pd = process.argv[2] as string;
const client = await TikvClient.connect({ pdEndpoints: [pd] });
const raw = client.raw();
await raw.put("clean-exit", "1");
await raw.get("clean-exit");
await raw.batchGet(["clean-exit", "other"]);
await raw.scan("clean", "cleao", 10);
await client.pd.getTimestamp();
await client.close();
process.stdout.write("closed\n");
