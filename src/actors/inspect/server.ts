// A small local web server for the live view: "/" serves the page, "/events" streams actor
// state changes and transaction events as Server-Sent Events, "/state" and "/txns" answer the
// current actor views and transaction lanes as JSON, "/charts" the statechart diagrams the page
// draws on. Listens on 127.0.0.1 by default; no external viewer is involved.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Subscription } from "rxjs";
import type { InspectionEvent } from "xstate";
import { InvalidArgumentError } from "../../errors/base.js";
import { listen } from "../../rpc/listen.js";
import type { ObserveHub } from "../observe/hub.js";
import { drawnCharts } from "./charts.js";
import { LiveInspector } from "./live-inspector.js";
import { LIVE_VIEW_HTML } from "./page.js";
import { TxnLanes } from "./txn-lanes.js";

/** Options of the live view (`TikvClient.connect({ inspect: { port } })`). */
export interface InspectOptions {
  /** TCP port (0 = chosen by the OS; default 0). */
  port?: number;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Called once with the page's URL when the server listens. */
  onListening?: (url: string) => void;
  /** Finished transactions the transactions pane keeps (default 50). */
  keepFinishedTxns?: number;
}

/** Checks {@link InspectOptions}; throws InvalidArgumentError on bad input. */
export function checkInspectOptions(o: unknown): InspectOptions {
  if (o === null || typeof o !== "object") throw new InvalidArgumentError("must be an object", "inspect");
  const { port, host, onListening, keepFinishedTxns } = o as InspectOptions;
  if (
    keepFinishedTxns !== undefined &&
    (!Number.isInteger(keepFinishedTxns) || keepFinishedTxns < 0 || keepFinishedTxns > 100_000)
  ) {
    throw new InvalidArgumentError(
      `keepFinishedTxns must be an integer in 0..100000, got ${String(keepFinishedTxns)}`,
      "inspect.keepFinishedTxns",
    );
  }
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
  /** @internal The transactions pane's lanes. */
  readonly lanes: TxnLanes;
  private readonly txnSub: Subscription | undefined;
  private readonly unpin: (() => void) | undefined;
  private readonly inspectFn: (ev: InspectionEvent) => void;
  private readonly keepFinishedTxns: number;

  private constructor(
    private readonly server: Server,
    inspector: LiveInspector,
    /** The page's URL ("http://127.0.0.1:port/"). */
    readonly url: string,
    opts: InspectOptions,
    hub: ObserveHub | undefined,
  ) {
    this.inspector = inspector;
    this.unsubscribe = inspector.subscribe((v) => this.broadcast("view", v));
    this.keepFinishedTxns = opts.keepFinishedTxns ?? 50;
    this.lanes = new TxnLanes(this.keepFinishedTxns);
    const live = inspector.inspect;
    this.inspectFn = live;
    if (hub) {
      // the live view watches every transaction while it runs (it was asked for)
      this.unpin = hub.pin();
      this.txnSub = hub.txns.subscribe((e) => {
        this.lanes.add(e);
        this.broadcast("txn", e);
      });
      const all = hub.inspect;
      this.inspectFn = (ev) => {
        live(ev);
        all(ev);
      };
    }
  }

  /**
   * @internal Starts the server; resolves once it listens. With `hub`, the page also shows the
   * transactions pane, and client.observe().transitions sees every actor.
   */
  static async start(
    opts: InspectOptions = {},
    inspector = new LiveInspector(),
    hub?: ObserveHub,
  ): Promise<InspectServer> {
    checkInspectOptions(opts);
    let self: InspectServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    const host = opts.host ?? "127.0.0.1";
    const port = await listen(server, opts.port ?? 0, host);
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    self = new InspectServer(server, inspector, url, opts, hub);
    opts.onListening?.(url);
    return self;
  }

  /** @internal The inspection callback to hand to actors. */
  get inspect(): (ev: InspectionEvent) => void {
    return this.inspectFn;
  }

  /** Stops the server and ends every stream. */
  async close(): Promise<void> {
    this.unsubscribe();
    this.txnSub?.unsubscribe();
    this.unpin?.();
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
    } else if (path === "/txns") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(this.lanes.snapshot()));
    } else if (path === "/charts") {
      // ?machines=a,b: only those (the page asks for each machine as its first actor shows up)
      const asked = new URL(req.url ?? "/", "http://x").searchParams.get("machines");
      drawnCharts(asked === null ? undefined : asked.split(",")).then(
        (charts) => {
          res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=3600" });
          res.end(
            JSON.stringify(charts.map((c) => ({ machine: c.machine, name: c.chart.name, svg: c.svg }))),
          );
        },
        (e: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" }).end(String(e));
        },
      );
    } else if (path === "/events") {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      res.write(`event: snapshot\ndata: ${JSON.stringify(this.inspector.snapshot())}\n\n`);
      if (this.txnSub) {
        res.write(`event: config\ndata: ${JSON.stringify({ keepFinishedTxns: this.keepFinishedTxns })}\n\n`);
        res.write(`event: txns\ndata: ${JSON.stringify(this.lanes.snapshot())}\n\n`);
      }
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
