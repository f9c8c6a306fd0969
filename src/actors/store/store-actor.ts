// The store actor: one per TiKV store, wiring the pure store machine to a grpc-js channel and
// its BatchCommands stream. A request is a SEND event with a reply callback (one hop); while
// the machine is `ready` the fast path skips even that hop and writes to the stream directly.

import { status as GrpcStatus } from "@grpc/grpc-js";
import { type Actor, createActor, fromCallback, fromPromise, type InspectionEvent } from "xstate";
import { TlsError } from "../../errors/tls.js";
import {
  type StoreBackoff,
  type StoreConnectInput,
  type StoreEmitted,
  type StoreEvent,
  type StoreLink,
  type StoreReachability,
  storeMachine,
} from "../../machines/store.js";
import type { CallOptions, Reply } from "../../rpc/call.js";
import { AbortedError, GrpcError, ShuttingDownError, TimeoutError } from "../../rpc/errors.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { TikvConnection, type TikvConnectionOptions, type TikvSession } from "../../rpc/tikv-connection.js";

/** Options of a {@link StoreActor}. */
export interface StoreActorOptions extends TikvConnectionOptions {
  /** Store id (metapb.Store.id). */
  storeId: number;
  /** Store address "host:port". */
  address: string;
  /** How long one connect attempt may take (default 5 s, client-go's dial timeout). */
  connectTimeoutMs?: number;
  /** Reconnect backoff (default 100 ms .. 2 s, equal jitter). */
  backoff?: Partial<StoreBackoff>;
  /**
   * Send a BatchCommands Empty request on each new stream and count the store as reachable
   * only once it is answered (default true). A channel can report READY for a moment after
   * the peer went away; the probe keeps the store from flapping to ready.
   */
  probeOnConnect?: boolean;
  /**
   * While the machine is `ready`, hand requests straight to its link instead of sending a SEND
   * event (zero actor hops on the happy path; the machine still decides when the link is
   * usable). Default true; false routes every request through the actor (one hop).
   */
  fastPath?: boolean;
  /** XState inspection callback (the live view); no callback is attached when unset. */
  inspect?: (ev: InspectionEvent) => void;
  /** Told each health feedback TiKV attaches to a BatchCommands response (slow score 1..100). */
  onHealthFeedback?: (storeId: number, slowScore: number) => void;
}

// Any answer proves the stream works; only a timeout or a lost stream fails the probe.
// Why a channel that did not get ready cannot connect, when it is a refused TLS handshake: a
// call that does not wait for readiness fails at once with grpc-js's last connection error,
// which the transport turns into a TlsError (waitForReady only says "failed to connect").
function tlsRefusal(connection: TikvConnection): Promise<TlsError | undefined> {
  return new Promise((resolve) =>
    connection.unary("GetHealthFeedback", { context: undefined }, { timeoutMs: 1_000 }, (err) =>
      resolve(err instanceof TlsError ? err : undefined),
    ),
  );
}

function probe(session: TikvSession, timeoutMs: number): Promise<void> {
  const stream = session.stream;
  if (!stream) return Promise.resolve();
  return new Promise((resolve, reject) =>
    stream.send("Empty", { testId: 0n, delayTime: 0n }, { timeoutMs }, (err) => {
      if (
        err &&
        (err instanceof TimeoutError ||
          err instanceof TlsError ||
          (err instanceof GrpcError && err.grpcCode === GrpcStatus.UNAVAILABLE))
      ) {
        session.close();
        reject(err);
      } else resolve();
    }),
  );
}

// Wraps `reply` so it fires once: with the real answer, or with TimeoutError / AbortedError if
// the request's own deadline or signal comes first.
function guardWhileHeld(cmd: string, opts: CallOptions | undefined, reply: Reply<unknown>): Reply<unknown> {
  const timeoutMs = opts?.timeoutMs;
  const signal = opts?.signal;
  if (timeoutMs === undefined && !signal) return reply;
  let done = false;
  const finish: Reply<unknown> = (err, resp) => {
    if (done) return;
    done = true;
    if (timer) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    reply(err, resp);
  };
  const onAbort = () => finish(new AbortedError(signal?.reason));
  const timer =
    timeoutMs !== undefined
      ? setTimeout(() => finish(new TimeoutError(`${cmd} (store connecting)`, timeoutMs)), timeoutMs)
      : undefined;
  timer?.unref?.();
  if (signal?.aborted) queueMicrotask(onAbort);
  else signal?.addEventListener("abort", onAbort, { once: true });
  return finish;
}

/** Health of a store as seen by this client. */
export interface StoreHealth {
  reachability: StoreReachability;
  /** TiKV's slow score from health feedback (1 = healthy, larger = slower, max 100). */
  slowScore: number;
}

/** Connection state of the store actor. */
export type StoreState = "connecting" | "ready" | "reconnecting" | "stopped";

/** One long-lived actor per TiKV store. */
export class StoreActor {
  /** Store id. */
  readonly storeId: number;
  /** Store address. */
  readonly address: string;
  /** The running xstate actor (for inspection / tests). */
  readonly actor: Actor<typeof storeMachine>;
  /** The grpc-js channel to the store. */
  readonly connection: TikvConnection;
  private stopped = false;
  private readyLink: StoreLink | undefined;

  constructor(opts: StoreActorOptions) {
    this.storeId = opts.storeId;
    this.address = opts.address;
    const connection = new TikvConnection(opts.address, opts);
    this.connection = connection;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    const machine = storeMachine.provide({
      actors: {
        connect: fromPromise<StoreLink, StoreConnectInput>(async () => {
          await connection.waitForReady(connectTimeoutMs).catch(async (e: unknown) => {
            throw (await tlsRefusal(connection)) ?? e;
          });
          const session = connection.openSession();
          if (opts.probeOnConnect !== false) {
            await probe(session, connectTimeoutMs).catch((e: unknown) => {
              // refused call by call (TiKV's CN check) on a connection that stays open: the
              // next attempt handshakes again, presenting the certificate files as they are now
              if (e instanceof TlsError && e.reason === "client-certificate-rejected") connection.redial();
              throw e;
            });
          }
          return session as unknown as StoreLink;
        }),
        watch: fromCallback<StoreEvent, { link: StoreLink; storeId: number }>(({ input, sendBack }) => {
          const stream = (input.link as unknown as TikvSession).stream;
          if (!stream) return () => {};
          stream.onClose((error) => sendBack({ type: "STREAM_LOST", error }));
          stream.onHealthFeedback((fb) => {
            sendBack({ type: "HEALTH_FEEDBACK", slowScore: fb.slowScore, seq: fb.feedbackSeqNo });
            // (the feedback names its store: client-go recordHealthFeedback looks it up by that id)
            opts.onHealthFeedback?.(Number(fb.storeId) || opts.storeId, fb.slowScore);
          });
          return () => {
            stream.onClose(undefined);
            stream.onHealthFeedback(undefined);
          };
        }),
      },
    });
    this.actor = createActor(machine, {
      input: { storeId: opts.storeId, address: connection.address, backoff: opts.backoff },
      inspect: opts.inspect,
    });
    if (opts.fastPath !== false) {
      this.actor.subscribe((snap) => {
        this.readyLink = snap.value === "ready" ? snap.context.link : undefined;
      });
    }
    this.actor.start();
  }

  /** Sends one command and resolves with its response (typed errors on failure). */
  send<C extends TikvCommand>(cmd: C, req: TikvRequest<C>, opts?: CallOptions): Promise<TikvResponse<C>> {
    return new Promise((resolve, reject) =>
      this.sendWithCallback(cmd, req, opts, (err, resp) =>
        err ? reject(err) : resolve(resp as TikvResponse<C>),
      ),
    );
  }

  /** Callback form of {@link send}, for the hot path (no promise per request). */
  sendWithCallback<C extends TikvCommand>(
    cmd: C,
    req: TikvRequest<C>,
    opts: CallOptions | undefined,
    reply: Reply<TikvResponse<C>>,
  ): void {
    const link = this.readyLink;
    if (link) {
      link.send(cmd, req, opts, reply as Reply<unknown>);
      return;
    }
    // While the first connect is pending the machine holds requests; keep their own timeout
    // and signal meaningful meanwhile (rare path: a timer per held request is fine here).
    const r = this.state === "connecting" ? guardWhileHeld(cmd, opts, reply as Reply<unknown>) : reply;
    this.actor.send({ type: "SEND", cmd, req, opts, reply: r as Reply<unknown> });
  }

  /** Current connection state. */
  get state(): StoreState {
    return this.actor.getSnapshot().value as StoreState;
  }

  /** Reachability and slow score. */
  get health(): StoreHealth {
    const c = this.actor.getSnapshot().context;
    return { reachability: c.reachability, slowScore: c.slowScore };
  }

  /** Subscribes to reachable/unreachable transitions; returns the unsubscribe function. */
  on<T extends StoreEmitted["type"]>(
    type: T,
    listener: (e: Extract<StoreEmitted, { type: T }>) => void,
  ): () => void {
    const sub = this.actor.on(type, (e) => {
      try {
        listener(e as Extract<StoreEmitted, { type: T }>);
      } catch {
        // listeners must not break the actor
      }
    });
    return () => sub.unsubscribe();
  }

  /** Resolves once the actor reaches `ready` (rejects if it stops first). */
  whenReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (value: unknown) => {
        if (value === "ready") return true;
        if (value === "stopped") throw new ShuttingDownError(`store ${this.storeId} stopped`);
        return false;
      };
      try {
        if (check(this.actor.getSnapshot().value)) return resolve();
      } catch (e) {
        return reject(e);
      }
      const sub = this.actor.subscribe((s) => {
        try {
          if (check(s.value)) {
            sub.unsubscribe();
            resolve();
          }
        } catch (e) {
          sub.unsubscribe();
          reject(e);
        }
      });
    });
  }

  /** Stops the actor: closes the stream and the channel; pending and later requests fail with ShuttingDownError. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.actor.send({ type: "STOP" });
    this.connection.close();
  }
}
