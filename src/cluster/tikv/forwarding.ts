// Forwarding on the store side (TiKV src/server/proxy.rs, forward_unary! / forward_duplex! in
// src/server/service/kv.rs): a call carrying the "tikv-forwarded-host" metadata is not served
// here but proxied to the store at that address, and the target's answer (or gRPC status) comes
// back as this store's. The proxy's own call to the target carries no forwarded host, so the
// target serves it.
//
// Mock-only: the proxy tags its calls with "tikv-ts-peer-store: <its store id>". Every server
// here listens on loopback, so a store cannot tell a peer's connection from a client's by the
// network path; the tag is how a store that is cut from clients (EmbeddedCluster.blockClients) still
// serves its peers, and how the request log names the store that forwarded a request.

import * as grpc from "@grpc/grpc-js";
import { TikvClient, TikvService } from "../../proto/tikvpb.js";

/** The metadata key naming the store a call is to be forwarded to (TiKV FORWARD_METADATA_KEY). */
export const FORWARDED_HOST_KEY = "tikv-forwarded-host";
/** Mock-only metadata key: the id of the store whose proxy made the call. */
export const PEER_STORE_KEY = "tikv-ts-peer-store";

/** The forwarded host of a call, "" when it is to be served here (TiKV get_target_address). */
export function forwardedHostOf(md: grpc.Metadata): string {
  const v = md.get(FORWARDED_HOST_KEY)[0];
  return typeof v === "string" ? v : v instanceof Buffer ? v.toString("utf8") : "";
}

/** The store whose proxy made the call, or undefined for a call from a client. */
export function peerStoreOf(md: grpc.Metadata): bigint | undefined {
  const v = md.get(PEER_STORE_KEY)[0];
  if (typeof v !== "string" || !/^\d+$/.test(v)) return undefined;
  return BigInt(v);
}

interface MethodDef {
  readonly path: string;
  readonly requestSerialize: (v: unknown) => Buffer;
  readonly responseDeserialize: (b: Buffer) => unknown;
}

/** An open forwarded BatchCommands stream (the client's call bridged to the target's). */
export interface ForwardedStream {
  /** Ends the client's side with UNAVAILABLE and cancels the target's side. */
  cut(details: string): void;
}

/** The proxy of one store: one channel per target address, kept until {@link close}. */
export class ForwardingProxy {
  private readonly clients = new Map<string, TikvClient>();
  private readonly metadata: grpc.Metadata;

  constructor(
    storeId: bigint,
    private readonly credentials: () => grpc.ChannelCredentials,
  ) {
    this.metadata = new grpc.Metadata();
    this.metadata.set(PEER_STORE_KEY, storeId.toString());
  }

  private client(address: string): TikvClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new TikvClient(address, this.credentials(), {
        "grpc.max_receive_message_length": -1,
        "grpc.max_send_message_length": -1,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  /**
   * forward_unary!: calls `method` on the store at `address` with the same request and deadline;
   * its response, or its gRPC status, is the answer (TiKV passes RpcFailure through as is).
   */
  forwardUnary(
    method: string,
    req: unknown,
    deadline: grpc.Deadline,
    address: string,
    callback: grpc.sendUnaryData<unknown>,
  ): void {
    const def = (TikvService as unknown as Record<string, MethodDef>)[method];
    if (!def) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: `cannot forward ${method}` }, null);
      return;
    }
    const opts: grpc.CallOptions = Number.isFinite(Number(deadline)) ? { deadline } : {};
    this.client(address).makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      req,
      this.metadata,
      opts,
      (err, resp) => {
        if (err) callback({ code: err.code, details: err.details, metadata: err.metadata }, null);
        else callback(null, resp);
      },
    );
  }

  /**
   * forward_duplex!: opens BatchCommands on the store at `address` and bridges both directions
   * (requests to it, its responses back); either side ending or failing ends the other.
   */
  forwardBatchCommands(
    call: grpc.ServerDuplexStream<unknown, unknown>,
    address: string,
    onEnd: (s: ForwardedStream) => void,
  ): ForwardedStream {
    const def = TikvService.batchCommands;
    const out = this.client(address).makeBidiStreamRequest(
      def.path,
      def.requestSerialize as (v: unknown) => Buffer,
      def.responseDeserialize,
      this.metadata,
    );
    let done = false;
    const finish = (status?: { code: grpc.status; details: string }) => {
      if (done) return;
      done = true;
      onEnd(bridge);
      if (status) call.emit("error", Object.assign(new Error(status.details), status));
      else call.end();
    };
    const bridge: ForwardedStream = {
      cut: (details) => {
        out.cancel();
        finish({ code: grpc.status.UNAVAILABLE, details });
      },
    };
    call.on("data", (m: unknown) => {
      if (!done) out.write(m);
    });
    call.on("end", () => out.end());
    const cancel = () => {
      if (done) return;
      done = true;
      onEnd(bridge);
      out.cancel();
    };
    call.on("cancelled", cancel);
    call.on("error", cancel);
    out.on("data", (m: unknown) => {
      if (!done) call.write(m);
    });
    // the target's final status decides how the client's stream ends: OK ends it, any other
    // status comes back as the proxy's (after our own cancel, `done` is already set)
    out.on("status", (st: grpc.StatusObject) => {
      if (st.code === grpc.status.OK) finish();
      else finish({ code: st.code, details: st.details });
    });
    out.on("error", () => {});
    return bridge;
  }

  /** Closes every channel to a target. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** The error a store cut from clients answers every client call with. */
export function clientLinkCutError(storeId: bigint): { code: grpc.status; details: string } {
  return {
    code: grpc.status.UNAVAILABLE,
    details: `store ${storeId}: the link from clients is cut (blockClients); only peer stores reach it`,
  };
}
