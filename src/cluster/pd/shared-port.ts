// One listening socket for PD's gRPC and HTTP/1.1 faces, as real PD serves both on its client
// URL (cmux). Plaintext connections are told apart by their first bytes: an HTTP/2 client
// opens with the connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (gRPC), anything else is
// HTTP/1.1. Under TLS the handshake's ALPN decides: "h2" goes to gRPC, the rest (http/1.1, or
// no ALPN as node:https sends) to HTTP. The TLS socket is terminated here and handed to an
// insecure grpc-js connection injector, which still sees a TLSSocket, so call.getAuthContext()
// (the common-name check) works as with grpc-js's own TLS.
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { type ConnectionInjector, type Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { listen } from "../../rpc/listen.js";
import type { ServerSecurity } from "../tls/server-security.js";

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A port serving one gRPC server and one HTTP request listener. */
export interface SharedPort {
  /** host:port it listens on. */
  readonly endpoint: string;
  /** Stops accepting, ends HTTP connections and gRPC sessions (forced after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** Options of {@link listenSharedPort}. */
export interface SharedPortOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  security: ServerSecurity;
  /** The gRPC server; it is never bound itself, connections are injected. */
  grpc: GrpcServer;
  /** HTTP/1.1 requests. */
  http: RequestListener;
}

/** Listens on host:port and routes every connection to gRPC or HTTP. */
export async function listenSharedPort(opts: SharedPortOptions): Promise<SharedPort> {
  const injector = opts.grpc.createConnectionInjector(ServerCredentials.createInsecure());
  const http = createHttpServer(opts.http);
  const sockets = new Set<Socket>();
  const tls = opts.security.httpsOptions();
  const server: NetServer = tls
    ? createTlsServer({ ...tls, ALPNProtocols: ["h2", "http/1.1"] }, (s: TLSSocket) =>
        s.alpnProtocol === "h2" ? injector.injectConnection(s) : http.emit("connection", s),
      )
    : createNetServer((s) => sniff(s, injector, http));
  // raw TCP sockets (also under TLS), to cut them at close
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  // a refused TLS handshake is the client's problem, not the server's
  server.on("tlsClientError", () => {});
  const bound = await listen(server, opts.port, opts.host);
  return {
    endpoint: `${opts.host}:${bound}`,
    close: (graceMs = 1000) => closeAll(server, http, opts.grpc, sockets, graceMs),
  };
}

// Reads until the bytes either are the whole preface or stop matching it, then hands the
// socket over with those bytes: http2 reads what is buffered in the socket (unshift), the
// HTTP/1 server consumes the handle directly, so it gets the first bytes as a data event.
function sniff(
  socket: Socket,
  injector: ConnectionInjector,
  http: ReturnType<typeof createHttpServer>,
): void {
  let seen: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const h2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (h2 && seen.length < H2_PREFACE.length) return;
    socket.off("data", onData);
    socket.off("error", onError);
    if (h2) {
      socket.pause();
      socket.unshift(seen);
      injector.injectConnection(socket);
    } else {
      http.emit("connection", socket);
      socket.emit("data", seen);
    }
  };
  const onError = () => socket.destroy();
  socket.on("data", onData);
  socket.on("error", onError);
}

async function closeAll(
  server: NetServer,
  http: ReturnType<typeof createHttpServer>,
  grpc: GrpcServer,
  sockets: Set<Socket>,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  http.closeAllConnections();
  await new Promise<void>((resolve) => {
    // graceful first (open streams such as Tso would hold it), forced after graceMs
    const t = setTimeout(() => {
      grpc.forceShutdown();
      resolve();
    }, graceMs);
    grpc.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
  for (const s of sockets) s.destroy();
  await closed;
}
