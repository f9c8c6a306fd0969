// A small local web server for the live view: "/" serves the page, "/events" streams actor
// state changes as Server-Sent Events, "/state" answers the current views as JSON. Listens on
// 127.0.0.1 by default; no external viewer is involved.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { InvalidArgumentError } from "../../errors/base.js";
import { LiveInspector } from "./live-inspector.js";
import { LIVE_VIEW_HTML } from "./page.js";

/** Options of the live view (`TikvClient.connect({ inspect: { port } })`). */
export interface InspectOptions {
  /** TCP port (0 = chosen by the OS; default 0). */
  port?: number;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Called once with the page's URL when the server listens. */
  onListening?: (url: string) => void;
}

/** Checks {@link InspectOptions}; throws InvalidArgumentError on bad input. */
export function checkInspectOptions(o: unknown): InspectOptions {
  if (o === null || typeof o !== "object") throw new InvalidArgumentError("must be an object", "inspect");
  const { port, host, onListening } = o as InspectOptions;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new InvalidArgumentError(
      `port must be an integer in 0..65535, got ${String(port)}`,
      "inspect.port",
    );
  }
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    throw new InvalidArgumentError("host must be a non-empty string", "inspect.host");
  }
  if (onListening !== undefined && typeof onListening !== "function") {
    throw new InvalidArgumentError("onListening must be a function", "inspect.onListening");
  }
  return o as InspectOptions;
}

/** A running live view. */
export class InspectServer {
  /** @internal The collector whose `inspect` callback the actors get. */
  readonly inspector: LiveInspector;
  private readonly clients = new Set<ServerResponse>();
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly server: Server,
    inspector: LiveInspector,
    /** The page's URL ("http://127.0.0.1:port/"). */
    readonly url: string,
  ) {
    this.inspector = inspector;
    this.unsubscribe = inspector.subscribe((v) => this.broadcast("view", v));
  }

  /** @internal Starts the server; resolves once it listens. */
  static async start(opts: InspectOptions = {}, inspector = new LiveInspector()): Promise<InspectServer> {
    checkInspectOptions(opts);
    let self: InspectServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    const host = opts.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    self = new InspectServer(server, inspector, url);
    opts.onListening?.(url);
    return self;
  }

  /** @internal The inspection callback to hand to actors. */
  get inspect(): LiveInspector["inspect"] {
    return this.inspector.inspect;
  }

  /** Stops the server and ends every stream. */
  async close(): Promise<void> {
    this.unsubscribe();
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections?.();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(LIVE_VIEW_HTML);
    } else if (path === "/state") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(this.inspector.snapshot()));
    } else if (path === "/events") {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      res.write(`event: snapshot\ndata: ${JSON.stringify(this.inspector.snapshot())}\n\n`);
      this.clients.add(res);
      req.on("close", () => this.clients.delete(res));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.write(msg);
  }
}
