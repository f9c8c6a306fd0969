// Transport micro-benchmark: gets through the store actor (BatchCommands, batched per turn)
// versus bare grpc-js unary KvGet calls, against the same fake TiKV server running in a child
// process (so only client CPU is measured). Run: node --import tsx bench/transport.bench.ts
// Reports client CPU µs/op (process.cpuUsage) and ops/s.

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { StoreActor } from "../src/actors/store/store-actor.js";
import { GetRequest, GetResponse } from "../src/proto/kvrpcpb.js";
import {
  type BatchCommandsRequest,
  BatchCommandsResponse,
  type BatchCommandsResponse_Response,
  TikvClient,
  TikvService,
} from "../src/proto/tikvpb.js";
import { BatchCommandsStream } from "../src/rpc/batch-stream.js";
import { channelCredentials } from "../src/rpc/channel.js";

const VALUE = Buffer.alloc(100, 7);

async function serve(): Promise<void> {
  const server = new grpc.Server();
  server.addService(TikvService, {
    batchCommands: (call: grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>) => {
      call.on("data", (msg: BatchCommandsRequest) => {
        const responses: BatchCommandsResponse_Response[] = msg.requests.map(() => ({
          cmd: { $case: "Get", Get: GetResponse.fromPartial({ value: VALUE }) },
        }));
        call.write(BatchCommandsResponse.fromPartial({ requestIds: msg.requestIds, responses }));
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
    kvGet: (_call: grpc.ServerUnaryCall<GetRequest, GetResponse>, cb: grpc.sendUnaryData<GetResponse>) =>
      cb(null, GetResponse.fromPartial({ value: VALUE })),
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  process.send?.({ port });
  setTimeout(() => process.exit(0), 300_000).unref(); // never outlive a forgotten parent
  process.on("disconnect", () => process.exit(0));
}

interface Result {
  name: string;
  ops: number;
  cpuUsPerOp: number;
  opsPerSec: number;
}

/** Runs `total` operations keeping `concurrency` in flight; `op(done)` starts one. */
async function measure(
  name: string,
  total: number,
  concurrency: number,
  op: (done: (err?: Error | null) => void) => void,
): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let started = 0;
    let finished = 0;
    const next = () => {
      if (started >= total) return;
      started++;
      op((err) => {
        if (err) return reject(err);
        finished++;
        if (finished === total) resolve();
        else next();
      });
    };
    for (let i = 0; i < concurrency; i++) next();
  });
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return {
    name,
    ops: total,
    cpuUsPerOp: (cpu.user + cpu.system) / total,
    opsPerSec: total / (wallNs / 1e9),
  };
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ["server"], { execArgv: process.execArgv });
  const port = await new Promise<number>((res) =>
    child.once("message", (m: { port: number }) => res(m.port)),
  );
  const address = `127.0.0.1:${port}`;
  const req = GetRequest.fromPartial({ key: Buffer.from("bench-key-0000001"), version: 1n << 40n });
  const results: Result[] = [];

  const unaryClient = new TikvClient(address, channelCredentials());
  const unary = (done: (e?: Error | null) => void) => unaryClient.kvGet(req, (e) => done(e));
  await measure("warmup unary", 500, 16, unary);
  for (const c of [1, 64])
    results.push(await measure(`bare grpc-js unary KvGet, ${c} in flight`, 3000, c, unary));

  const stream = new BatchCommandsStream(unaryClient);
  const viaStream = (done: (e?: Error | null) => void) => stream.send("Get", req, undefined, (e) => done(e));
  await measure("warmup stream", 5000, 64, viaStream);
  for (const c of [64, 256]) {
    results.push(await measure(`BatchCommandsStream (no actor), ${c} in flight`, 40_000, c, viaStream));
  }

  const store = new StoreActor({ storeId: 1, address });
  await store.whenReady();
  const viaActor = (done: (e?: Error | null) => void) =>
    store.sendWithCallback("Get", req, undefined, (e) => done(e));
  const viaActorPromise = (done: (e?: Error | null) => void) => {
    store.send("Get", req).then(() => done(), done);
  };
  await measure("warmup actor", 5000, 64, viaActor);
  for (const c of [1, 64, 256]) {
    results.push(
      await measure(
        `store actor, fast path (callback), ${c} in flight`,
        c === 1 ? 3000 : 40_000,
        c,
        viaActor,
      ),
    );
  }
  results.push(
    await measure("store actor, fast path (promise), 256 in flight", 40_000, 256, viaActorPromise),
  );

  // Every request as a SEND event through the store machine (one actor hop).
  const hop = new StoreActor({ storeId: 2, address, fastPath: false });
  await hop.whenReady();
  const viaHop = (done: (e?: Error | null) => void) =>
    hop.sendWithCallback("Get", req, undefined, (e) => done(e));
  await measure("warmup hop", 5000, 64, viaHop);
  for (const c of [64, 256]) {
    results.push(
      await measure(`store actor, one hop per request (callback), ${c} in flight`, 40_000, c, viaHop),
    );
  }
  hop.stop();

  const base = results.find((r) => r.name.startsWith("bare grpc-js unary KvGet, 64"));
  console.log("| path | ops | client CPU µs/op | ops/s | ops/s vs unary@64 |");
  console.log("|---|---|---|---|---|");
  for (const r of results) {
    const ratio = base ? (r.opsPerSec / base.opsPerSec).toFixed(1) : "-";
    console.log(
      `| ${r.name} | ${r.ops} | ${r.cpuUsPerOp.toFixed(1)} | ${Math.round(r.opsPerSec)} | ${ratio}x |`,
    );
  }
  store.stop();
  stream.close();
  unaryClient.close();
  child.kill();
}

if (process.argv[2] === "server") void serve();
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
