// Client crash mid-commit: a client whose gRPC traffic is cut at a chosen point of a write (after
// the prewrites, before any commit; after the primary's commit; after the first raw write of a
// batch) and which is then closed, as a process that died there. Its locks and half-done batches
// stay behind for the other clients to resolve. Works against any cluster: the cut is a grpc-js
// client interceptor passed through the public `grpcOptions`.

import { InterceptingCall, type Interceptor, type InterceptorOptions } from "@grpc/grpc-js";
import type { ConnectOptions } from "../../api/options.js";
import { TikvClient } from "../../api/tikv-client.js";
import type { OpValue } from "../types.js";
import type { CrashPoint, Nemesis } from "./types.js";

const RAW_WRITES = new Set(["RawPut", "RawBatchPut", "RawDelete", "RawBatchDelete", "RawCompareAndSwap"]);

// The commands one outgoing message carries: a BatchCommands batch lists them; a unary call is
// named by its method ("KvCommit" -> "Commit").
function commandsOf(path: string, message: unknown): string[] {
  if (path.endsWith("/BatchCommands")) {
    const cmds = (message as { cmds?: unknown }).cmds;
    return Array.isArray(cmds) ? cmds.map(String) : [];
  }
  const method = path.slice(path.lastIndexOf("/") + 1);
  return [method.replace(/^K[vV]/, "")];
}

/** A client that stops sending at `point` and is closed right after. */
export interface CrashingClient {
  client: TikvClient;
  /** True once the cut happened. */
  readonly cut: boolean;
  /** Closes the client (idempotent); resolves within `ms` even if close hangs. */
  crash(ms?: number): Promise<void>;
}

/**
 * Connects a client whose traffic is cut at `point`: "after-prewrite" drops the first message
 * carrying a Commit and everything after; "after-primary-commit" lets that message through and
 * drops everything after; "mid-raw-write" lets the first raw write through and drops the rest.
 * The client is closed shortly after the cut (the crash).
 */
export async function connectCrashingClient(
  opts: ConnectOptions,
  point: CrashPoint,
): Promise<CrashingClient> {
  let cut = false;
  let closed: Promise<void> | undefined;
  let client: TikvClient | undefined;
  const crash = (ms = 2000): Promise<void> => {
    closed ??= client
      ? Promise.race([client.close().catch(() => {}), new Promise<void>((r) => setTimeout(r, ms).unref())])
      : Promise.resolve();
    return closed;
  };
  const trigger = (cmds: string[]): "pass" | "drop" => {
    if (cut) return "drop";
    const hit = point === "mid-raw-write" ? cmds.some((c) => RAW_WRITES.has(c)) : cmds.includes("Commit");
    if (!hit) return "pass";
    cut = true;
    // The crash itself, a moment after the cut (what was sent may still be applied).
    setTimeout(() => void crash(), 20).unref();
    return point === "after-prewrite" ? "drop" : "pass";
  };
  const interceptor: Interceptor = (options: InterceptorOptions, nextCall) => {
    const path = options.method_definition.path;
    return new InterceptingCall(nextCall(options), {
      sendMessage(message, next) {
        if (trigger(commandsOf(path, message)) === "pass") next(message);
      },
      halfClose(next) {
        if (!cut) next();
      },
    });
  };
  client = await TikvClient.connect({
    ...opts,
    grpcOptions: { ...opts.grpcOptions, interceptors: [interceptor] },
  });
  return {
    client,
    get cut() {
      return cut;
    },
    crash,
  };
}

/** The client-crash nemesis: the next operation some process invokes runs on a crashing client. */
export const clientCrashNemesis: Nemesis = {
  name: "client-crash",
  embeddedOnly: false,
  async start(ctx) {
    const points: CrashPoint[] =
      ctx.workload.keyMode === "raw" ? ["mid-raw-write"] : ["after-prewrite", "after-primary-commit"];
    const point = ctx.rng.pick(points);
    const done = ctx.crashNextOp(point);
    // The schedule goes on after a short wait: a crashed operation may hang until its deadline.
    const pending = new Promise<OpValue>((r) => setTimeout(() => r({ pending: true }), 500).unref());
    return { value: { point }, stop: () => Promise.race([done, pending]) };
  },
};
