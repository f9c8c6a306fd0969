// The `tikv-ts` command line (commander): `tikv-ts cluster` starts the embedded cluster.
// Exit codes: 0 = ok / help shown, 2 = bad usage (unknown command or option, invalid value).

import { pathToFileURL } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ControlServer } from "../cluster/control/index.js";
import { EmbeddedCluster } from "../cluster/embedded-cluster.js";
import { addGcCommand } from "./gc-command.js";
import { addInspectCommand } from "./inspect-command.js";
import { addTlsOptions, clusterTlsFromFlags, type TlsCommanderValues, tlsFlagValues } from "./tls-flags.js";

type ApiVersion = "v1" | "v1ttl" | "v2";

/** The `cluster` command's parsed options. */
interface ClusterFlags extends TlsCommanderValues {
  stores: number;
  regions: number;
  pdPort: number;
  pdMembers: number;
  apiVersion: ApiVersion;
  regionKeyEncoding?: "raw" | "memcomparable";
  host: string;
  controlPort: number;
  json: boolean;
}

const integer = (flag: string, min: number) => (raw: string) => {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, not ${raw}`);
  }
  return n;
};

const oneOf =
  <T extends string>(flag: string, allowed: readonly T[]) =>
  (raw: string): T => {
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    const list =
      allowed.length === 2 ? allowed.join(" or ") : `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`;
    throw new InvalidArgumentError(`${flag} must be ${list}, not ${raw}`);
  };

/** The command tree; `run` receives the parsed `cluster` options. */
function program(run: (flags: ClusterFlags) => Promise<void>): Command {
  const prog = new Command("tikv-ts")
    .description("TypeScript TiKV client tools: an embedded TiKV cluster for tests and demos")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
    })
    .showHelpAfterError("(run with --help for usage)");
  const cluster = prog
    .command("cluster")
    .summary("start an embedded TiKV cluster (API v1, TTL off, unless --api-version says otherwise)")
    .description(
      "Start an embedded TiKV cluster (mock PD + mock TiKV stores) on loopback, print its endpoints, " +
        "and run until SIGINT / SIGTERM (then stop it and free its ports).\n" +
        "Like TiKV, it serves API v1 with TTL off unless --api-version says otherwise: raw calls " +
        "with a TTL (put with ttl, getKeyTTL) need --api-version v1ttl or v2, and clients must " +
        "connect with the same apiVersion.",
    )
    .addOption(
      new Option("--stores <n>", "number of TiKV stores").default(3).argParser(integer("--stores", 1)),
    )
    .addOption(
      new Option("--regions <n>", "number of regions, split evenly over the key space")
        .default(1)
        .argParser(integer("--regions", 1)),
    )
    .addOption(
      new Option("--pd-port <n>", "PD port (0 = any free port)")
        .default(2379)
        .argParser(integer("--pd-port", 0)),
    )
    .addOption(
      new Option("--pd-members <n>", "number of PD members").default(1).argParser(integer("--pd-members", 1)),
    )
    .addOption(
      new Option(
        "--api-version <v1|v1ttl|v2>",
        "storage API version (TiKV storage.api-version): v1 = TiKV's default, TTL off; " +
          "v1ttl = v1 with TTL (storage.enable-ttl); v2 = keyspaces and TTL",
      )
        .default("v1")
        .argParser(oneOf<ApiVersion>("--api-version", ["v1", "v1ttl", "v2"])),
    )
    .addOption(
      new Option(
        "--region-key-encoding <raw|memcomparable>",
        "how split keys are written as region boundaries (memcomparable: one key space for raw " +
          "and transactional clients, as TiKV; raw: for raw clients only) " +
          "(default: memcomparable for v2, raw for v1/v1ttl)",
      ).argParser(oneOf("--region-key-encoding", ["raw", "memcomparable"] as const)),
    )
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .addOption(
      new Option("--control-port <n>", "port of the control channel (0 = any free port)")
        .default(0)
        .argParser(integer("--control-port", 0)),
    )
    .option("--json", "print one JSON line {pd, pdHttp, storeStatus, control, tls?} instead of text", false);
  addTlsOptions(cluster).action(async (flags: ClusterFlags) => run(flags));
  return prog;
}

/** Runs the `tikv-ts` command line; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const prog = program(async (flags) => {
    code = await runCluster(flags);
  });
  addGcCommand(prog, (c) => {
    code = c;
  });
  addInspectCommand(prog, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    // no command: the overview, on stderr (stdout carries only machine-readable output)
    process.stderr.write(prog.helpInformation());
    return 0;
  }
  try {
    await prog.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help / help: exit 0; every usage error (unknown command / option, bad value): 2
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return code;
}

async function runCluster(flags: ClusterFlags): Promise<number> {
  let security: Awaited<ReturnType<typeof clusterTlsFromFlags>>;
  try {
    security = await clusterTlsFromFlags(tlsFlagValues(flags));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  // listen for the stop signals from the start, so a signal during startup still stops cleanly
  let signalled: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  let signals = 0;
  const onSignal = () => {
    signals++;
    // a second signal while stopping: give up on a clean stop
    if (signals > 1) process.exit(130);
    signalled?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const { host, apiVersion } = flags;
    const cluster = await EmbeddedCluster.start({
      stores: flags.stores,
      regions: flags.regions,
      pdMembers: flags.pdMembers,
      pdPort: flags.pdPort,
      apiVersion,
      host,
      ...(flags.regionKeyEncoding ? { regionKeyEncoding: flags.regionKeyEncoding } : {}),
      ...(security.tls ? { tls: security.tls } : {}),
    });
    let control: ControlServer;
    try {
      control = await ControlServer.start(
        { topology: cluster.topology, faults: cluster.faults, pd: cluster.pd, cluster },
        { host, port: flags.controlPort },
      );
    } catch (e) {
      await cluster.close();
      throw e;
    }
    // PD's HTTP API shares the PD port; each store's status server has an address of its own
    const storeStatus = Object.fromEntries(
      [...cluster.storeStatusUrls].map(([id, url]) => [String(id), url]),
    );
    if (flags.json) {
      const tls = security.generated ?? (security.tls ? {} : undefined);
      const info = { pd: cluster.pdEndpoints, pdHttp: cluster.pdHttpUrl, storeStatus, control: control.url };
      process.stdout.write(`${JSON.stringify({ ...info, apiVersion, tls })}\n`);
    } else {
      process.stdout.write(
        `tikv-ts embedded cluster: ${flags.stores} store(s), ${flags.regions} region(s), API ${apiVersion}` +
          `${apiVersion === "v1" ? " (TTL off)" : ""}\n` +
          `PD endpoints: ${cluster.pdEndpoints.join(",")} (gRPC and HTTP: ${cluster.pdHttpUrl}/pd/api/v1/...)\n` +
          `store status servers: ${Object.entries(storeStatus)
            .map(([id, url]) => `${id}=${url}`)
            .join(" ")}\n` +
          `control channel: ${control.url}\n` +
          (security.generated
            ? `TLS client files: ca ${security.generated.ca}, cert ${security.generated.clientCert}, key ${security.generated.clientKey}\n`
            : security.tls
              ? "TLS: mutual\n"
              : "") +
          "press Ctrl+C to stop\n",
      );
    }
    await stopped;
    await control.close();
    await cluster.close();
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

// run directly (`node --import tsx src/cli/main.ts cluster ...`); bin/tikv-ts.mjs imports main()
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
