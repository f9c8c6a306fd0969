// Channel options (TLS from buffers or paths, address parsing) and unary call helpers.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkHeader, isLeaderChange } from "../../../src/actors/pd/pd-rpc.js";
import { StoreActor } from "../../../src/actors/store/store-actor.js";
import { InvalidArgumentError } from "../../../src/errors/base.js";
import { GetRequest, GetResponse } from "../../../src/proto/kvrpcpb.js";
import { ErrorType } from "../../../src/proto/pdpb.js";
import {
  type BatchCommandsRequest,
  BatchCommandsResponse,
  TikvClient,
  TikvService,
} from "../../../src/proto/tikvpb.js";
import { unaryCallAsync } from "../../../src/rpc/call.js";
import { channelCredentials, grpcTarget } from "../../../src/rpc/channel.js";
import {
  AbortedError,
  ClusterIdMismatchError,
  GrpcError,
  PdError,
  TimeoutError,
} from "../../../src/rpc/errors.js";
import { TikvConnection } from "../../../src/rpc/tikv-connection.js";

describe("grpcTarget / channelCredentials", () => {
  it("accepts host:port with or without a scheme and rejects the rest", () => {
    expect(grpcTarget("http://127.0.0.1:2379")).toBe("127.0.0.1:2379");
    expect(grpcTarget("https://pd.local:2379/")).toBe("pd.local:2379");
    expect(grpcTarget(" 127.0.0.1:20160 ")).toBe("127.0.0.1:20160");
    expect(() => grpcTarget("")).toThrow(InvalidArgumentError);
    expect(() => grpcTarget("127.0.0.1")).toThrow(InvalidArgumentError);
  });

  it("rejects a cert without a key and unreadable PEM paths", () => {
    expect(() => channelCredentials({ cert: Buffer.from("x") })).toThrow(InvalidArgumentError);
    expect(() => channelCredentials({ ca: "/nonexistent/ca.pem" })).toThrow(/cannot read ca/);
    expect(channelCredentials()._isSecure()).toBe(false);
  });
});

describe("TLS end to end", () => {
  let dir: string;
  let server: grpc.Server;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tikv-ts-tls-"));
    const sh = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    sh([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=test-ca",
    ]);
    sh([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    ]);
    // The client dials the server by name: TLS sends the host as SNI, and SNI may only carry a
    // DNS name (RFC 6066; Node warns DEP0123 when grpc-js is given an IP address to send).
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    sh([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
    ]);
    server = new grpc.Server();
    server.addService(TikvService, {
      batchCommands: (call: grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>) => {
        call.on("data", (m: BatchCommandsRequest) =>
          call.write(
            BatchCommandsResponse.fromPartial({
              requestIds: m.requestIds,
              responses: m.requests.map((r) =>
                r.cmd?.$case === "Get"
                  ? {
                      cmd: {
                        $case: "Get" as const,
                        Get: GetResponse.fromPartial({ value: Buffer.from("secure") }),
                      },
                    }
                  : { cmd: { $case: "Empty" as const, Empty: { testId: 0n } } },
              ),
            }),
          ),
        );
        call.on("end", () => call.end());
      },
    } as grpc.UntypedServiceImplementation);
    const creds = grpc.ServerCredentials.createSsl(null, [
      {
        private_key: readFileSync(join(dir, "server.key")),
        cert_chain: readFileSync(join(dir, "server.pem")),
      },
    ]);
    port = await new Promise((res, rej) =>
      server.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))),
    );
  });
  afterAll(() => {
    server?.forceShutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a store actor talks TLS with the CA given as a path or as a buffer", async () => {
    for (const ca of [join(dir, "ca.pem"), readFileSync(join(dir, "ca.pem"))]) {
      const store = new StoreActor({ storeId: 1, address: `localhost:${port}`, tls: { ca } });
      const r = await store.send("Get", GetRequest.fromPartial({ key: Buffer.from("k") }));
      expect(r.value.toString()).toBe("secure");
      store.stop();
    }
  });

  it("an insecure client cannot connect to the TLS server", async () => {
    const conn = new TikvConnection(`127.0.0.1:${port}`);
    await expect(conn.waitForReady(300)).rejects.toBeInstanceOf(GrpcError);
    conn.close();
  });
});

describe("unary calls", () => {
  let server: grpc.Server;
  let client: TikvClient;
  const parked: Array<() => void> = [];

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(TikvService, {
      kvGet: (call: grpc.ServerUnaryCall<GetRequest, GetResponse>, cb: grpc.sendUnaryData<GetResponse>) => {
        const k = call.request.key.toString();
        if (k === "fail") return cb({ code: grpc.status.PERMISSION_DENIED, details: "nope" });
        if (k === "hang") return parked.push(() => cb(null, GetResponse.fromPartial({})));
        cb(null, GetResponse.fromPartial({ value: Buffer.from(`v:${k}`) }));
      },
    } as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    client = new TikvClient(`127.0.0.1:${port}`, channelCredentials());
  });
  afterAll(() => {
    for (const f of parked) f();
    client?.close();
    server?.forceShutdown();
  });

  const get = (key: string, opts?: { timeoutMs?: number; signal?: AbortSignal }) =>
    unaryCallAsync(
      client,
      TikvService.kvGet,
      GetRequest.fromPartial({ key: Buffer.from(key) }),
      opts,
      "store-1",
    );

  it("returns the response", async () => {
    expect((await get("a")).value.toString()).toBe("v:a");
  });

  it("maps a gRPC status to GrpcError with code and address", async () => {
    const err = (await get("fail").catch((e) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.grpcCode).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.address).toBe("store-1");
  });

  it("maps the deadline to TimeoutError and the signal to AbortedError", async () => {
    await expect(get("hang", { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const p = get("hang", { signal: ac.signal });
    setTimeout(() => ac.abort("stop"), 20);
    const err = (await p.catch((e) => e)) as AbortedError;
    expect(err).toBeInstanceOf(AbortedError);
    expect(err.reason).toBe("stop");
    const pre = new AbortController();
    pre.abort();
    await expect(get("a", { signal: pre.signal })).rejects.toBeInstanceOf(AbortedError);
  });
});

describe("PD error classification", () => {
  it("leader-change errors are retryable, others are not", () => {
    expect(isLeaderChange(new GrpcError(grpc.status.UNAVAILABLE, "not leader"))).toBe(true);
    expect(isLeaderChange(new GrpcError(grpc.status.UNKNOWN, "rpc error: no leader"))).toBe(true);
    expect(isLeaderChange(new GrpcError(grpc.status.INVALID_ARGUMENT, "bad"))).toBe(false);
    expect(isLeaderChange(new TimeoutError("x", 1))).toBe(true);
    expect(isLeaderChange(new Error("random"))).toBe(false);
  });

  it("checkHeader throws PdError for error headers and ClusterIdMismatchError for another cluster", () => {
    expect(() =>
      checkHeader({ clusterId: 1n, error: { type: ErrorType.NOT_BOOTSTRAPPED, message: "nb" } }, 1n),
    ).toThrow(PdError);
    expect(() => checkHeader({ clusterId: 2n, error: undefined }, 1n)).toThrow(ClusterIdMismatchError);
    expect(() => checkHeader({ clusterId: 0n, error: undefined }, 1n)).not.toThrow();
    expect(() =>
      checkHeader({ clusterId: 1n, error: { type: ErrorType.OK, message: "" } }, 1n),
    ).not.toThrow();
  });
});
