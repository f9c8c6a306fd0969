// Child process of test/api/clean-exit.test.ts: connects, works, closes, and must then exit on
// its own (no timers, sockets or streams left behind). Never calls process.exit.
// `abort <dead endpoint>` mode: a connect() to a PD that never answers is aborted through its
// signal; what it started must be gone as well.
import { AbortedError, TikvClient } from "../../src/index.js";

if (process.argv[2] === "abort") {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error("user gave up")), 300);
  const err = await TikvClient.connect({
    pdEndpoints: [process.argv[3] as string],
    connectTimeoutMs: 60_000,
    signal: ac.signal,
  }).catch((e) => e);
  if (!(err instanceof AbortedError)) throw new Error(`expected AbortedError, got ${String(err)}`);
  process.stdout.write("aborted\n");
} else {
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
}
