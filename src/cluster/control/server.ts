import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { listen } from "../../rpc/listen.js";
import { decodeControlJson, encodeControlJson } from "./wire-json.js";

/** The objects a control server exposes, by name (e.g. `topology`, `faults`, `pd`). */
export type ControlTargets = Record<string, object>;

/**
 * A loopback HTTP server that lets tests and benchmarks in another process drive a running
 * embedded cluster: `POST /call/<target>/<method>` with a JSON array of arguments calls
 * `targets[target][method](...args)` and answers `{ result }` or `{ error }`.
 *
 * Only public methods are callable: names starting with `_`, `constructor` and event-emitter
 * plumbing are refused, so the channel cannot reach internals.
 */
export class ControlServer {
  private constructor(
    private readonly server: Server,
    /** Base URL, e.g. `http://127.0.0.1:43121`. */
    readonly url: string,
  ) {}

  /** Starts listening on `host:port` (port 0 lets the OS choose). */
  static async start(
    targets: ControlTargets,
    opts: { host?: string; port?: number } = {},
  ): Promise<ControlServer> {
    const host = opts.host ?? "127.0.0.1";
    const server = createServer((req, res) => {
      void handle(targets, req, res);
    });
    const port = await listen(server, opts.port ?? 0, host);
    return new ControlServer(server, `http://${host}:${port}`);
  }

  /** Stops accepting calls and closes open connections. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const refused = new Set([
  "constructor",
  "on",
  "once",
  "off",
  "emit",
  "addListener",
  "removeListener",
  "removeAllListeners",
]);

/** Whether `name` is a public method of `target` that the channel may call. */
export function isCallable(target: object, name: string): boolean {
  if (name.startsWith("_") || refused.has(name)) return false;
  return typeof (target as Record<string, unknown>)[name] === "function";
}

async function handle(targets: ControlTargets, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(encodeControlJson(body));
  };
  const m = /^\/call\/([A-Za-z0-9_]+)\/([A-Za-z0-9_]+)$/.exec(req.url ?? "");
  if (req.method === "GET" && req.url === "/targets") {
    return reply(200, { result: Object.keys(targets) });
  }
  if (req.method !== "POST" || !m)
    return reply(404, { error: new Error(`no such control route: ${req.method} ${req.url}`) });
  const [, targetName, method] = m as unknown as [string, string, string];
  const target = Object.hasOwn(targets, targetName) ? targets[targetName] : undefined;
  if (!target || !isCallable(target, method)) {
    return reply(404, { error: new Error(`not callable: ${targetName}.${method}`) });
  }
  let args: unknown;
  try {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    args = chunks.length ? decodeControlJson(Buffer.concat(chunks).toString("utf8")) : [];
    if (!Array.isArray(args)) throw new TypeError("the request body must be a JSON array of arguments");
  } catch (e) {
    return reply(400, { error: e });
  }
  try {
    const fn = (target as Record<string, (...a: unknown[]) => unknown>)[method]!;
    const result = await fn.apply(target, args);
    reply(200, { result: result === undefined ? null : result });
  } catch (e) {
    reply(200, { error: e instanceof Error ? e : new Error(String(e)) });
  }
}
