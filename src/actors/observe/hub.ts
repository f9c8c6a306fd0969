// The client's observation hub: rxjs Observables of actor transitions and transaction events,
// and eventemitter3 events for the common cases. Nothing is built while nobody listens: the
// emit sites ask `txnActive` / `actorsActive` (plain field reads) before making any record.
import { EventEmitter } from "eventemitter3";
import { Observable, type Subscriber } from "rxjs";
import type { InspectionEvent } from "xstate";
import type {
  ActorTransition,
  TxnBeginEvent,
  TxnCommitEvent,
  TxnEvent,
  TxnLockEvent,
  TxnRollbackEvent,
  TxnRpcEvent,
} from "./events.js";
import { transitionInspector } from "./transitions.js";

/** The events of {@link ClientEvents}, with their listener arguments. */
export interface ClientEventMap {
  /** A transaction began (observed transactions only: while someone listens). */
  "txn:begin": [event: TxnBeginEvent];
  /** A transaction committed (with its protocol and fallbacks). */
  "txn:commit": [event: TxnCommitEvent];
  /** A transaction was rolled back, or its commit failed. */
  "txn:rollback": [event: TxnRollbackEvent];
  /** A transaction met locks of others and had them resolved. */
  "txn:lock": [event: TxnLockEvent];
  /** An RPC of a transaction met a region error (the routing layer retries it). */
  "region:error": [event: TxnRpcEvent];
}

/**
 * eventemitter3 events of a client (`client.events`). Listening to any of them turns
 * transaction observation on; removing every listener turns it off again.
 *
 * @example
 * ```ts
 * client.events.on("txn:commit", (e) => console.log(e.txn, e.mode, e.commitTs));
 * ```
 */
export class ClientEvents extends EventEmitter<ClientEventMap> {
  /** @internal Listeners registered (any event). */
  count = 0;

  private recount(): void {
    let n = 0;
    for (const name of this.eventNames()) n += this.listenerCount(name);
    this.count = n;
  }

  override on<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    fn: EventEmitter.EventListener<ClientEventMap, T>,
    context?: unknown,
  ): this {
    super.on(event, fn, context);
    this.recount();
    return this;
  }

  override addListener<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    fn: EventEmitter.EventListener<ClientEventMap, T>,
    context?: unknown,
  ): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    fn: EventEmitter.EventListener<ClientEventMap, T>,
    context?: unknown,
  ): this {
    super.once(event, fn, context);
    this.recount();
    return this;
  }

  override removeListener<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    fn?: EventEmitter.EventListener<ClientEventMap, T>,
    context?: unknown,
    once?: boolean,
  ): this {
    super.removeListener(event, fn, context, once);
    this.recount();
    return this;
  }

  override off<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    fn?: EventEmitter.EventListener<ClientEventMap, T>,
    context?: unknown,
    once?: boolean,
  ): this {
    return this.removeListener(event, fn, context, once);
  }

  override removeAllListeners(event?: EventEmitter.EventNames<ClientEventMap>): this {
    super.removeAllListeners(event);
    this.recount();
    return this;
  }

  /** @internal Emits; a listener's failure never reaches the transaction. */
  deliver<T extends EventEmitter.EventNames<ClientEventMap>>(
    event: T,
    ...args: EventEmitter.EventArgs<ClientEventMap, T>
  ): void {
    try {
      this.emit(event, ...args);
    } catch {
      // ignored: documented on client.events
    }
    this.recount(); // once-listeners are gone now
  }
}

/** What `client.observe()` returns. */
export interface ClientObservables {
  /**
   * State changes of the client's actors: the committers of observed transactions always;
   * the PD, store, region, retry and lock-resolver actors when the client was connected with
   * `observeActors: true` or the live view (`inspect`), since attaching inspection to every
   * actor costs on every transition.
   */
  readonly transitions: Observable<ActorTransition>;
  /** Lifecycle events of every transaction begun while someone subscribes. */
  readonly txns: Observable<TxnEvent>;
}

/** @internal One per client: fans records out to subscribers and listeners. */
export class ObserveHub implements ClientObservables {
  readonly events = new ClientEvents();
  private readonly txnSubs = new Set<Subscriber<TxnEvent>>();
  private readonly actorSubs = new Set<Subscriber<ActorTransition>>();
  /** Streams that feed on every transaction (the live view), besides subscribers. */
  private pinned = 0;

  readonly txns: Observable<TxnEvent> = new Observable<TxnEvent>((sub) => {
    this.txnSubs.add(sub);
    return () => this.txnSubs.delete(sub);
  });

  readonly transitions: Observable<ActorTransition> = new Observable<ActorTransition>((sub) => {
    this.actorSubs.add(sub);
    return () => this.actorSubs.delete(sub);
  });

  /** Whether a transaction begun now must report its events (its committer's transitions too). */
  get txnActive(): boolean {
    return this.txnSubs.size > 0 || this.actorSubs.size > 0 || this.events.count > 0 || this.pinned > 0;
  }

  /** Whether actor transitions have subscribers. */
  get actorsActive(): boolean {
    return this.actorSubs.size > 0;
  }

  /** Keeps transaction observation on until the returned function is called (the live view). */
  pin(): () => void {
    this.pinned++;
    let done = false;
    return () => {
      if (!done) this.pinned--;
      done = true;
    };
  }

  /** Sends `e` to subscribers and to the matching client event. */
  publishTxn(e: TxnEvent): void {
    for (const s of this.txnSubs) s.next(e);
    if (this.events.count === 0) return;
    switch (e.type) {
      case "begin":
        this.events.deliver("txn:begin", e);
        break;
      case "commit":
        this.events.deliver("txn:commit", e);
        break;
      case "rollback":
        this.events.deliver("txn:rollback", e);
        break;
      case "lockResolve":
        this.events.deliver("txn:lock", e);
        break;
      case "rpc":
        if (e.outcome === "regionError") this.events.deliver("region:error", e);
        break;
      default:
        break;
    }
  }

  /** Sends `t` to the transition subscribers. */
  publishTransition(t: ActorTransition): void {
    for (const s of this.actorSubs) s.next(t);
  }

  private readonly tracker = transitionInspector((t) => this.publishTransition(t));

  /** The inspection callback for the client's long-lived actors (attached with the live view only). */
  readonly inspect = (ev: InspectionEvent): void => {
    if (this.actorSubs.size === 0) return;
    this.tracker(ev);
  };
}
