// One Watch stream of the embedded etcd (etcd server/etcdserver/api/v3rpc/watch.go and
// server/mvcc/watchable_store.go): watchers created on it get a created response, then the
// history from start_revision (or a compacted cancel when that history is gone), then every
// later change in revision order, one response per revision; cancel, progress requests and
// periodic progress notifications as etcd sends them.
import type {
  WatchCreateRequest,
  WatchRequest,
  WatchResponse,
} from "../../../proto/etcd/etcdserverpb/rpc.js";
import { WatchCreateRequest_FilterType } from "../../../proto/etcd/etcdserverpb/rpc.js";
import { type Event, Event_EventType } from "../../../proto/etcd/mvccpb/kv.js";
import { inRange, type KeyRange, keyRange, keyString } from "./key-range.js";
import type { HeaderAt } from "./kv-ops.js";
import type { Commit, KvStore } from "./kv-store.js";

/** etcd's default --experimental-watch-progress-notify-interval (10 minutes). */
export const DEFAULT_PROGRESS_NOTIFY_MS = 600_000;

/** clientv3.InvalidWatchID: a progress response meant for every watcher of the stream. */
const BROADCAST_WATCH_ID = -1n;

interface Watcher {
  readonly id: bigint;
  readonly range: KeyRange;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  /** First revision to report (a start_revision in the future waits for it). */
  readonly minRevision: bigint;
  /** Sent events since the last progress tick. */
  active: boolean;
}

/** One client's Watch stream. */
export class WatchStream {
  private readonly watchers = new Map<bigint, Watcher>();
  private nextId = 0n;
  private readonly unsubscribe: () => void;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly kv: KvStore,
    private readonly header: HeaderAt,
    private readonly send: (r: WatchResponse) => void,
    progressNotifyMs: number = DEFAULT_PROGRESS_NOTIFY_MS,
  ) {
    this.unsubscribe = kv.subscribe((c) => this.onCommit(c));
    this.ticker = setInterval(() => this.progressTick(), progressNotifyMs);
    this.ticker.unref();
  }

  /** Handles one request of the stream. */
  handle(req: WatchRequest): void {
    if (this.closed) return;
    const u = req.requestUnion;
    if (u?.$case === "createRequest") this.create(u.createRequest);
    else if (u?.$case === "cancelRequest") this.cancel(u.cancelRequest.watchId);
    else if (u?.$case === "progressRequest")
      this.reply({ header: this.header(this.kv.revision), watchId: BROADCAST_WATCH_ID });
  }

  /** Ends the stream: no more responses. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.ticker);
    this.watchers.clear();
  }

  private create(req: WatchCreateRequest): void {
    let id = req.watchId;
    if (id === 0n) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      this.reply({
        header: this.header(this.kv.revision),
        watchId: -1n,
        created: true,
        canceled: true,
        cancelReason: "mvcc: duplicate watch ID provided on the WatchStream",
      });
      return;
    }
    const w: Watcher = {
      id,
      range: keyRange(req.key, req.rangeEnd),
      noPut: req.filters.includes(WatchCreateRequest_FilterType.NOPUT),
      noDelete: req.filters.includes(WatchCreateRequest_FilterType.NODELETE),
      prevKv: req.prevKv,
      progressNotify: req.progressNotify,
      minRevision: req.startRevision,
      active: false,
    };
    this.reply({ header: this.header(this.kv.revision), watchId: id, created: true });
    const start = req.startRevision;
    if (start > 0n && start < this.kv.compactRevision) {
      // the history asked for is gone: etcd cancels the watcher and says up to where
      this.reply({
        header: this.header(this.kv.revision),
        watchId: id,
        canceled: true,
        compactRevision: this.kv.compactRevision,
      });
      return;
    }
    // everything here is synchronous: no commit can slip between replay and registration
    if (start > 0n) for (const c of this.kv.commitsFrom(start)) this.deliver(w, c);
    this.watchers.set(id, w);
  }

  private cancel(id: bigint): void {
    if (!this.watchers.delete(id)) return;
    this.reply({ header: this.header(this.kv.revision), watchId: id, canceled: true });
  }

  private onCommit(c: Commit): void {
    for (const w of this.watchers.values()) this.deliver(w, c);
  }

  private deliver(w: Watcher, c: Commit): void {
    if (c.revision < w.minRevision) return;
    const events: Event[] = [];
    for (const e of c.events) {
      if (!inRange(w.range, keyString(e.kv.key))) continue;
      if (e.type === "put" ? w.noPut : w.noDelete) continue;
      events.push({
        type: e.type === "put" ? Event_EventType.PUT : Event_EventType.DELETE,
        kv: e.kv,
        ...(w.prevKv && e.prevKv ? { prevKv: e.prevKv } : {}),
      });
    }
    if (events.length === 0) return;
    w.active = true;
    this.reply({ header: this.header(c.revision), watchId: w.id, events });
  }

  private progressTick(): void {
    for (const w of this.watchers.values()) {
      if (w.progressNotify && !w.active) this.reply({ header: this.header(this.kv.revision), watchId: w.id });
      w.active = false;
    }
  }

  private reply(r: Partial<WatchResponse>): void {
    if (this.closed) return;
    this.send({
      watchId: 0n,
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: "",
      fragment: false,
      events: [],
      ...r,
    });
  }
}
