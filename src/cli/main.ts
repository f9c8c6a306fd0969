import { parseArgs } from "node:util";
import { ControlServer } from "../cluster/control/index.js";
import { EmbeddedCluster } from "../cluster/embedded-cluster.js";
import { clusterTlsFromFlags, TLS_FLAG_SPECS, TLS_FLAG_USAGE } from "./tls-flags.js";

const usage = `usage: tikv-ts cluster [options]

Starts an embedded TiKV cluster (mock PD + mock TiKV stores) on loopback and prints its
endpoints; runs until interrupted.

options:
  --stores N          number of TiKV stores (default 3)
  --regions N         number of regions, split evenly over the key space (default 1)
  --pd-port N         PD port (default 2379; 0 = any free port)
  --pd-members N      number of PD members (default 1)
  --api-version V     v1 | v1ttl | v2 (default v1)
  --region-key-encoding E
                      raw | memcomparable: the form of region boundaries PD and TiKV
                      report (default: memcomparable for v2, raw for v1/v1ttl; a v1
                      cluster serving a transactional client needs memcomparable)
  --host H            address to listen on (default 127.0.0.1)
  --control-port N    port of the control channel (default: any free port)
  --json              print one JSON line {pd, control, tls?} instead of text
${TLS_FLAG_USAGE}`;

/** Runs the `tikv-ts` command line; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "cluster") {
    process.stderr.write(usage);
    return command === undefined || command === "--help" || command === "help" ? 0 : 2;
  }
  let values: ReturnType<typeof parse>;
  try {
    values = parse(rest);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  const apiVersion = values["api-version"];
  if (apiVersion !== "v1" && apiVersion !== "v1ttl" && apiVersion !== "v2") {
    process.stderr.write(`--api-version must be v1, v1ttl or v2, not ${apiVersion}\n`);
    return 2;
  }
  const num = (name: "stores" | "regions" | "pd-port" | "pd-members" | "control-port", min: number) => {
    const raw = values[name];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer >= ${min}, not ${raw}`);
    return n;
  };
  let opts: { stores: number; regions: number; pdPort: number; pdMembers: number; controlPort: number };
  try {
    opts = {
      stores: num("stores", 1),
      regions: num("regions", 1),
      pdPort: num("pd-port", 0),
      pdMembers: num("pd-members", 1),
      controlPort: num("control-port", 0),
    };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }

  const encoding = values["region-key-encoding"];
  if (encoding !== undefined && encoding !== "raw" && encoding !== "memcomparable") {
    process.stderr.write(`--region-key-encoding must be raw or memcomparable, not ${encoding}\n`);
    return 2;
  }
  let security: Awaited<ReturnType<typeof clusterTlsFromFlags>>;
  try {
    security = await clusterTlsFromFlags(values);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const host = values.host;
  const cluster = await EmbeddedCluster.start({
    stores: opts.stores,
    regions: opts.regions,
    pdMembers: opts.pdMembers,
    pdPort: opts.pdPort,
    apiVersion,
    host,
    ...(encoding ? { regionKeyEncoding: encoding } : {}),
    ...(security.tls ? { tls: security.tls } : {}),
  });
  const control = await ControlServer.start(
    { topology: cluster.topology, faults: cluster.faults, pd: cluster.pd, cluster },
    { host, port: opts.controlPort },
  );
  if (values.json) {
    const tls = security.generated ?? (security.tls ? {} : undefined);
    process.stdout.write(`${JSON.stringify({ pd: cluster.pdEndpoints, control: control.url, tls })}\n`);
  } else {
    process.stdout.write(
      `tikv-ts embedded cluster: ${opts.stores} store(s), ${opts.regions} region(s), API ${apiVersion}\n` +
        `PD endpoints: ${cluster.pdEndpoints.join(",")}\n` +
        `control channel: ${control.url}\n` +
        (security.generated
          ? `TLS client files: ca ${security.generated.ca}, cert ${security.generated.clientCert}, key ${security.generated.clientKey}\n`
          : security.tls
            ? "TLS: mutual\n"
            : "") +
        "press Ctrl+C to stop\n",
    );
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await control.close();
  await cluster.close();
  return 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    options: {
      stores: { type: "string", default: "3" },
      regions: { type: "string", default: "1" },
      "pd-port": { type: "string", default: "2379" },
      "pd-members": { type: "string", default: "1" },
      "api-version": { type: "string", default: "v1" },
      "region-key-encoding": { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "control-port": { type: "string", default: "0" },
      json: { type: "boolean", default: false },
      ...TLS_FLAG_SPECS,
    },
  }).values;
}
