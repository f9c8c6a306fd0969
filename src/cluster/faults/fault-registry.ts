import { isRpcName, type RpcName } from "./rpc-names.js";
import type {
  CallInfo,
  DelaySpec,
  DropReplySpec,
  FailSpec,
  FaultDecision,
  FaultError,
  FaultHandle,
  FaultKey,
  FaultScope,
  RequestHook,
} from "./types.js";

/** Thrown for a malformed fault specification. */
export class InvalidFaultSpecError extends Error {
  readonly code = "InvalidFaultSpec";
  constructor(message: string) {
    super(message);
    this.name = "InvalidFaultSpecError";
  }
}

interface Matcher {
  rpcs: ReadonlySet<RpcName> | "*";
  storeId?: bigint;
  regionId?: bigint;
  key?: Buffer;
}

interface Entry<T> {
  matcher: Matcher;
  remaining: number;
  fired: number;
  payload: T;
}

function toBuffer(k: FaultKey): Buffer {
  return typeof k === "string" ? Buffer.from(k, "utf8") : Buffer.from(k.buffer, k.byteOffset, k.byteLength);
}

function toBigId(v: number | bigint | undefined, what: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number" && (!Number.isSafeInteger(v) || v < 0)) {
    throw new InvalidFaultSpecError(`${what} must be a non-negative integer, got ${v}`);
  }
  return BigInt(v);
}

function compileScope(scope: FaultScope, served: ReadonlySet<string> | undefined, hint: string): Matcher {
  let rpcs: Matcher["rpcs"];
  if (scope.rpc === "*") rpcs = "*";
  else {
    const list = typeof scope.rpc === "string" ? [scope.rpc] : scope.rpc;
    if (list.length === 0) throw new InvalidFaultSpecError("rpc list is empty");
    for (const r of list) {
      if (!isRpcName(r)) throw new InvalidFaultSpecError(`unknown rpc ${JSON.stringify(r)}`);
      if (served && !served.has(r)) {
        throw new InvalidFaultSpecError(
          `rpc ${r} is not served by the servers consulting this registry${hint}`,
        );
      }
    }
    rpcs = new Set(list);
  }
  const m: Matcher = { rpcs };
  const storeId = toBigId(scope.storeId, "storeId");
  const regionId = toBigId(scope.regionId, "regionId");
  if (storeId !== undefined) m.storeId = storeId;
  if (regionId !== undefined) m.regionId = regionId;
  if (scope.key !== undefined) m.key = toBuffer(scope.key);
  return m;
}

function checkCount(count: number | undefined, dflt: number): number {
  const c = count ?? dflt;
  if (c !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(c) || c < 1)) {
    throw new InvalidFaultSpecError(`count must be a positive integer, got ${count}`);
  }
  return c;
}

function matches(m: Matcher, call: CallInfo): boolean {
  if (m.rpcs !== "*" && !m.rpcs.has(call.rpc)) return false;
  if (m.storeId !== undefined && call.storeId !== m.storeId) return false;
  if (m.regionId !== undefined && call.regionId !== m.regionId) return false;
  if (m.key !== undefined) {
    const want = m.key;
    if (!call.keys?.some((k) => Buffer.compare(want, k) === 0)) return false;
  }
  return true;
}

function handleFor<T>(list: Entry<T>[], entry: Entry<T>): FaultHandle {
  return {
    get fired() {
      return entry.fired;
    },
    get remaining() {
      return entry.remaining;
    },
    cancel() {
      entry.remaining = 0;
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
    },
  };
}

/** Takes one shot of the first live entry matching `call`, pruning exhausted entries. */
function take<T>(list: Entry<T>[], call: CallInfo): T | undefined {
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as Entry<T>;
    if (!matches(e.matcher, call)) continue;
    e.remaining -= 1;
    e.fired += 1;
    if (e.remaining <= 0) list.splice(i, 1);
    return e.payload;
  }
  return undefined;
}

/**
 * Fault injection shared by the mock TiKV stores and the mock PD. Servers call `decide()` once
 * per request before executing it; tests register faults with `failNext`, `delay`, `dropReply`
 * and `onRequest`. Deterministic: a fault with count N fires on exactly the next N matching
 * calls, faults are tried in registration order, and one failNext fires per call.
 */
export class FaultRegistry {
  private readonly served: ReadonlySet<string> | undefined;
  private readonly hint: string;
  private readonly failures: Entry<FaultError>[] = [];
  private readonly delays: Entry<number>[] = [];
  private readonly drops: Entry<NonNullable<FaultDecision["dropReply"]>>[] = [];
  private readonly hooks = new Set<RequestHook>();
  /** Call counters: per rpc (total + per store) and overall; no string building per call. */
  private readonly counters = new Map<RpcName, RpcCounter>();
  private total = 0;
  private readonly totalByStore = new Map<bigint, number>();

  /**
   * `opts.rpcs` limits faults to the RPCs of the servers that consult this registry, so a
   * fault that could never fire is refused (`opts.hint` is appended to that error).
   */
  constructor(opts: { rpcs?: readonly RpcName[]; hint?: string } = {}) {
    this.served = opts.rpcs ? new Set(opts.rpcs) : undefined;
    this.hint = opts.hint ? ` (${opts.hint})` : "";
  }

  private scope(spec: FaultScope): Matcher {
    return compileScope(spec, this.served, this.hint);
  }

  /** Fail the next `count` (default 1) matching calls with `error`. */
  failNext(spec: FailSpec): FaultHandle {
    if (!spec.error || typeof spec.error !== "object") throw new InvalidFaultSpecError("error is required");
    const entry: Entry<FaultError> = {
      matcher: this.scope(spec),
      remaining: checkCount(spec.count, 1),
      fired: 0,
      payload: spec.error,
    };
    this.failures.push(entry);
    return handleFor(this.failures, entry);
  }

  /** Delay matching calls by `ms` (the next `count` calls, default all of them). */
  delay(spec: DelaySpec): FaultHandle {
    if (!Number.isFinite(spec.ms) || spec.ms < 0)
      throw new InvalidFaultSpecError(`ms must be >= 0, got ${spec.ms}`);
    const entry: Entry<number> = {
      matcher: this.scope(spec),
      remaining: checkCount(spec.count, Number.POSITIVE_INFINITY),
      fired: 0,
      payload: spec.ms,
    };
    this.delays.push(entry);
    return handleFor(this.delays, entry);
  }

  /** Execute the next `count` (default 1) matching calls, then drop their replies. */
  dropReply(spec: DropReplySpec): FaultHandle {
    const entry: Entry<NonNullable<FaultDecision["dropReply"]>> = {
      matcher: this.scope(spec),
      remaining: checkCount(spec.count, 1),
      fired: 0,
      payload: spec.outcome ?? "hang",
    };
    this.drops.push(entry);
    return handleFor(this.drops, entry);
  }

  /** Register a hook that sees every call (and may fail it). Returns an unsubscribe function. */
  onRequest(hook: RequestHook): () => void {
    this.hooks.add(hook);
    return () => {
      this.hooks.delete(hook);
    };
  }

  /** Calls seen so far, optionally only of one RPC and/or on one store. */
  calls(filter: { rpc?: RpcName; storeId?: number | bigint } = {}): number {
    const storeId = toBigId(filter.storeId, "storeId");
    if (filter.rpc === undefined)
      return storeId === undefined ? this.total : (this.totalByStore.get(storeId) ?? 0);
    const c = this.counters.get(filter.rpc);
    if (!c) return 0;
    return storeId === undefined ? c.total : (c.byStore.get(storeId) ?? 0);
  }

  /** Zero all call counters. */
  resetCounters(): void {
    this.counters.clear();
    this.total = 0;
    this.totalByStore.clear();
  }

  /** Remove every fault and hook and zero the counters. */
  clear(): void {
    this.failures.length = 0;
    this.delays.length = 0;
    this.drops.length = 0;
    this.hooks.clear();
    this.resetCounters();
  }

  /** True when no fault or hook is registered (servers use it to skip work on the fast path). */
  get idle(): boolean {
    return (
      this.failures.length === 0 &&
      this.delays.length === 0 &&
      this.drops.length === 0 &&
      this.hooks.size === 0
    );
  }

  /**
   * For servers: count the call and say what to do with it. Returns undefined when the call
   * runs normally.
   */
  decide(call: CallInfo): FaultDecision | undefined {
    this.count(call);
    if (this.idle) return undefined;
    let error: FaultError | undefined;
    for (const hook of [...this.hooks]) {
      const r = hook(call);
      if (r && error === undefined) error = r;
    }
    if (error === undefined) error = take(this.failures, call);
    const delayMs = take(this.delays, call) ?? 0;
    const dropReply = error === undefined ? take(this.drops, call) : undefined;
    if (error === undefined && delayMs === 0 && dropReply === undefined) return undefined;
    const d: FaultDecision = { delayMs };
    if (error !== undefined) d.error = error;
    if (dropReply !== undefined) d.dropReply = dropReply;
    return d;
  }

  private count(call: CallInfo): void {
    this.total++;
    let c = this.counters.get(call.rpc);
    if (!c) {
      c = { total: 0, byStore: new Map() };
      this.counters.set(call.rpc, c);
    }
    c.total++;
    const s = call.storeId;
    if (s !== undefined) {
      c.byStore.set(s, (c.byStore.get(s) ?? 0) + 1);
      this.totalByStore.set(s, (this.totalByStore.get(s) ?? 0) + 1);
    }
  }
}

interface RpcCounter {
  total: number;
  byStore: Map<bigint, number>;
}
