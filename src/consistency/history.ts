// Recording and reading histories: the recorder enforces the shape checkers rely on (a process
// runs one operation at a time; every invoke is followed by exactly one ok / fail / info of the
// same process), streams events to JSONL as they happen (a crashed run keeps its history), and
// pairs invokes with completions for checkers.

import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import type { EventType, HistoryEvent, OpValue } from "./types.js";

/** The process id of nemesis events (fault start / stop). */
export const NEMESIS_PROCESS = -1;

/** A history that breaks the recorder's invariants (or a JSONL line that is not an event). */
export class HistoryError extends Error {
  readonly code = "HISTORY";
  constructor(message: string) {
    super(message);
    this.name = "HistoryError";
  }
}

/** Options of {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /** Clock in ms (default performance.now); times are recorded relative to the recorder's start. */
  now?: () => number;
  /** Append every event to this JSONL file as it is recorded. */
  jsonlPath?: string;
}

/**
 * Records a history. `invoke` opens an operation of a process, `complete` closes it; a second
 * invoke of a process with an open operation, or a completion without one, throws HistoryError.
 *
 * @example
 * ```ts
 * const h = new HistoryRecorder();
 * h.invoke(0, "write", { key: "k", value: "1" });
 * h.complete(0, "ok", { key: "k", value: "1" });
 * h.events; // [invoke, ok]
 * ```
 */
export class HistoryRecorder {
  /** The events so far, in order. */
  readonly events: HistoryEvent[] = [];
  /** The nemesis fault(s) active now; stamped on every completion. */
  activeNemesis: string | undefined;
  private readonly open = new Map<number, HistoryEvent>();
  private readonly now: () => number;
  private readonly t0: number;
  private readonly out: WriteStream | undefined;

  constructor(opts: HistoryRecorderOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.out = opts.jsonlPath ? createWriteStream(opts.jsonlPath, { flags: "w" }) : undefined;
  }

  /** Opens an operation of `process`; returns the event's index. */
  invoke(process: number, f: string, value: OpValue): number {
    if (this.open.has(process)) {
      throw new HistoryError(`process ${process} invoked ${f} while its previous operation is open`);
    }
    const e = this.push("invoke", process, f, value);
    this.open.set(process, e);
    return e.index;
  }

  /** Closes the open operation of `process` with its outcome; returns the event's index. */
  complete(process: number, type: Exclude<EventType, "invoke">, value?: OpValue, error?: string): number {
    const inv = this.open.get(process);
    if (!inv) throw new HistoryError(`process ${process} completed an operation it did not invoke`);
    this.open.delete(process);
    const e = this.push(type, process, inv.f, value === undefined ? inv.value : value, error);
    return e.index;
  }

  /** True when `process` has an operation open. */
  isOpen(process: number): boolean {
    return this.open.has(process);
  }

  /** Closes the JSONL stream (after every event was written). */
  async close(): Promise<void> {
    const out = this.out;
    if (!out) return;
    await new Promise<void>((resolve, reject) => {
      out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  private push(type: EventType, process: number, f: string, value: OpValue, error?: string): HistoryEvent {
    const e: HistoryEvent = {
      index: this.events.length,
      type,
      process,
      time: Math.round((this.now() - this.t0) * 1000) / 1000,
      f,
      value,
    };
    if (error !== undefined) e.error = error;
    if (type !== "invoke" && this.activeNemesis !== undefined) e.nemesis = this.activeNemesis;
    this.events.push(e);
    this.out?.write(`${JSON.stringify(e)}\n`);
    return e;
  }
}

/** Serialises a history as JSONL (one event a line). */
export function toJsonl(history: readonly HistoryEvent[]): string {
  let s = "";
  for (const e of history) s += `${JSON.stringify(e)}\n`;
  return s;
}

const TYPES = new Set<string>(["invoke", "ok", "fail", "info"]);

/** Parses JSONL text into events; throws HistoryError naming the first bad line. */
export function parseJsonl(text: string): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch (err) {
      throw new HistoryError(`line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    const ev = e as Partial<HistoryEvent>;
    if (
      typeof ev !== "object" ||
      ev === null ||
      typeof ev.index !== "number" ||
      typeof ev.process !== "number" ||
      typeof ev.f !== "string" ||
      typeof ev.type !== "string" ||
      !TYPES.has(ev.type)
    ) {
      throw new HistoryError(`line ${i + 1}: not a history event`);
    }
    out.push(ev as HistoryEvent);
  }
  return out;
}

/** Reads a history.jsonl file. */
export function readJsonl(path: string): HistoryEvent[] {
  return parseJsonl(readFileSync(path, "utf8"));
}

/** One operation: its invoke and its completion (absent when the history ended with it open). */
export interface Op {
  process: number;
  f: string;
  invoke: HistoryEvent;
  /** ok / fail / info event; undefined when the operation never completed (treat as info). */
  complete: HistoryEvent | undefined;
  /** The outcome: the completion's type, or "info" when it never completed. */
  type: Exclude<EventType, "invoke">;
}

/**
 * Pairs every invoke with its completion, in invoke order. Nemesis events (process
 * {@link NEMESIS_PROCESS}) are left out unless `includeNemesis`. Throws HistoryError when a
 * process invokes twice without completing, or completes without invoking.
 */
export function pairOps(history: readonly HistoryEvent[], opts: { includeNemesis?: boolean } = {}): Op[] {
  const open = new Map<number, Op>();
  const ops: Op[] = [];
  for (const e of history) {
    if (e.process === NEMESIS_PROCESS && !opts.includeNemesis) continue;
    if (e.type === "invoke") {
      if (open.has(e.process)) {
        throw new HistoryError(`event ${e.index}: process ${e.process} invoked while an operation is open`);
      }
      const op: Op = { process: e.process, f: e.f, invoke: e, complete: undefined, type: "info" };
      open.set(e.process, op);
      ops.push(op);
    } else {
      const op = open.get(e.process);
      if (!op) throw new HistoryError(`event ${e.index}: process ${e.process} completed without invoking`);
      op.complete = e;
      op.type = e.type;
      open.delete(e.process);
    }
  }
  return ops;
}
