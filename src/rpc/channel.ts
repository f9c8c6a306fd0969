// gRPC channel creation shared by the PD and TiKV connections.

import { readFileSync } from "node:fs";
import { type ChannelCredentials, type ChannelOptions, credentials } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../api/errors/base.js";

/** A PEM blob given inline or as a file path. */
export type PemSource = Buffer | Uint8Array | string;

/**
 * TLS material: CA for verifying servers, optional client cert/key for mutual TLS. grpc-js sends
 * the dialed host as the TLS server name (SNI); for an IP address Node warns once (DEP0123, SNI
 * may only carry DNS names), so give PD endpoints as host names where certificates allow it.
 */
export interface TlsOptions {
  /** CA certificate(s) (PEM buffer, or a path to a PEM file). */
  ca?: PemSource;
  /** Client certificate (PEM buffer or path); needs `key`. */
  cert?: PemSource;
  /** Client private key (PEM buffer or path); needs `cert`. */
  key?: PemSource;
}

/** Options for every channel the client opens. */
export interface ChannelConfig {
  /** TLS settings; omitted means plaintext (insecure) channels. */
  tls?: TlsOptions;
  /** Extra grpc-js channel options merged over the defaults. */
  grpcOptions?: ChannelOptions;
}

function loadPem(src: PemSource | undefined, what: string): Buffer | undefined {
  if (src === undefined) return undefined;
  if (typeof src === "string") {
    try {
      return readFileSync(src);
    } catch (e) {
      throw new InvalidArgumentError(
        `cannot read ${what} file ${src}: ${(e as Error).message}`,
        `tls.${what}`,
      );
    }
  }
  return Buffer.from(src.buffer, src.byteOffset, src.byteLength);
}

/** Builds grpc-js credentials from {@link TlsOptions}: insecure when `tls` is undefined. */
export function channelCredentials(tls?: TlsOptions): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const ca = loadPem(tls.ca, "ca");
  const cert = loadPem(tls.cert, "cert");
  const key = loadPem(tls.key, "key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new InvalidArgumentError("cert and key must be given together", "tls");
  }
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
}

/** Default channel options: unlimited message sizes, keepalive like client-go (10s/3s). */
export const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 3_000,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 3_000,
};

/** Merges defaults with the caller's channel options. */
export function channelOptions(cfg?: ChannelConfig): ChannelOptions {
  return cfg?.grpcOptions ? { ...DEFAULT_CHANNEL_OPTIONS, ...cfg.grpcOptions } : DEFAULT_CHANNEL_OPTIONS;
}

/**
 * Turns a PD/TiKV address ("http://h:p", "https://h:p", "h:p") into grpc's "h:p" target.
 * Rejects empty addresses and addresses without a port.
 */
export function grpcTarget(address: string): string {
  const trimmed = address
    .trim()
    .replace(/^(https?|grpcs?):\/\//i, "")
    .replace(/\/+$/, "");
  if (!trimmed || !/:\d+$/.test(trimmed)) {
    throw new InvalidArgumentError(`address "${address}" must be host:port`, "address");
  }
  return trimmed;
}
