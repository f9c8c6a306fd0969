// A gRPC channel to one TiKV store plus the session (stream) that multiplexes requests on it.

import { Metadata } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../errors/base.js";
import { TikvClient } from "../proto/tikvpb.js";
import { BatchCommandsStream, type BatchStreamOptions } from "./batch-stream.js";
import { type CallOptions, type Reply, unaryCall, waitForReady } from "./call.js";
import { type ChannelConfig, channelCredentials, channelOptions, grpcTarget } from "./channel.js";
import { ShuttingDownError } from "./errors.js";
import {
  isBatched,
  type TikvCommand,
  type TikvRequest,
  type TikvResponse,
  UNARY_METHODS,
} from "./tikv-commands.js";

/** Options of a {@link TikvConnection}. */
export interface TikvConnectionOptions extends ChannelConfig, Omit<BatchStreamOptions, "address"> {
  /** false sends every command unary (as does maxBatchSize = 0, like client-go). Default true. */
  batching?: boolean;
  /**
   * Send every call through this store to the store at `forwardedHost` (client-go
   * EnableForwarding): the "tikv-forwarded-host" metadata rides on each unary call and on the
   * BatchCommands stream, and the receiving TiKV proxies them there.
   */
  forwardedHost?: string;
}

/** The gRPC metadata key naming the store a TiKV should forward a call to (TiKV server/proxy.rs). */
export const FORWARDED_HOST_METADATA_KEY = "tikv-forwarded-host";

function forwardMetadata(host: string | undefined): Metadata | undefined {
  if (host === undefined || host === "") return undefined;
  const md = new Metadata();
  md.set(FORWARDED_HOST_METADATA_KEY, host);
  return md;
}

/** Sends one TiKV command; replies through a callback (the hot-path form). */
export interface TikvSender {
  send<C extends TikvCommand>(
    cmd: C,
    req: TikvRequest<C>,
    opts: CallOptions | undefined,
    reply: Reply<TikvResponse<C>>,
  ): void;
}

/** One grpc-js channel to a TiKV store; streams are opened on it by {@link TikvConnection.openSession}. */
export class TikvConnection {
  private current: TikvClient;
  /** The store address as given ("host:port"). */
  readonly address: string;
  private readonly opts: TikvConnectionOptions;
  private readonly metadata: Metadata | undefined;
  private closed = false;

  constructor(address: string, opts: TikvConnectionOptions = {}) {
    this.address = grpcTarget(address);
    this.opts = opts;
    this.metadata = forwardMetadata(opts.forwardedHost);
    this.current = this.dial();
  }

  /** The generated grpc-js client (owns the channel); replaced by {@link redial}. */
  get client(): TikvClient {
    return this.current;
  }

  private dial(): TikvClient {
    return new TikvClient(this.address, channelCredentials(this.opts.tls), channelOptions(this.opts));
  }

  /**
   * Replaces the channel with a new one, when certificates are reloaded (tls.reloadIntervalMs):
   * a store that refuses our certificate call by call (TiKV's CN check) keeps the connection
   * open, so without a new handshake a rotated certificate would never be presented. Returns
   * false (and keeps the channel) otherwise. Streams opened before keep the old channel until
   * closed; the caller opens a new session.
   */
  redial(): boolean {
    if (this.closed || this.opts.tls?.reloadIntervalMs === undefined) return false;
    const old = this.current;
    this.current = this.dial();
    old.close();
    return true;
  }

  /** Waits for the channel to connect (GrpcError UNAVAILABLE after timeoutMs). */
  waitForReady(timeoutMs: number): Promise<void> {
    return waitForReady(this.client, timeoutMs, this.address);
  }

  /** Opens a new BatchCommands stream and returns a session that routes each command. */
  openSession(): TikvSession {
    if (this.closed) throw new ShuttingDownError(`connection to ${this.address} closed`);
    const stream =
      this.opts.batching === false || this.opts.maxBatchSize === 0
        ? undefined
        : new BatchCommandsStream(this.client, {
            ...this.opts,
            address: this.address,
            metadata: this.metadata,
          });
    return new TikvSession(this, stream);
  }

  /** Sends `cmd` as a unary call. */
  unary<C extends TikvCommand>(
    cmd: C,
    req: TikvRequest<C>,
    opts: CallOptions | undefined,
    reply: Reply<TikvResponse<C>>,
  ): void {
    if (cmd === "Empty") {
      queueMicrotask(() =>
        reply(
          new InvalidArgumentError("the Empty command exists only on BatchCommands (batching is off)", "cmd"),
        ),
      );
      return;
    }
    const method = UNARY_METHODS[cmd as Exclude<C, "Empty">];
    unaryCall(this.client, method as never, req, opts, reply as Reply<unknown>, this.address, this.metadata);
  }

  /** Closes the channel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

/**
 * The stream of one connection attempt: batchable commands go on the stream, the rest unary
 * (client-go internal/client/client.go sendRequest).
 */
export class TikvSession implements TikvSender {
  constructor(
    /** The channel this session belongs to. */
    readonly connection: TikvConnection,
    /** The BatchCommands stream, undefined when batching is off. */
    readonly stream: BatchCommandsStream | undefined,
  ) {}

  send<C extends TikvCommand>(
    cmd: C,
    req: TikvRequest<C>,
    opts: CallOptions | undefined,
    reply: Reply<TikvResponse<C>>,
  ): void {
    if (this.stream && isBatched(cmd)) this.stream.send(cmd, req, opts, reply);
    else this.connection.unary(cmd, req, opts, reply);
  }

  /** Closes the stream (not the channel). */
  close(): void {
    this.stream?.close();
  }
}
