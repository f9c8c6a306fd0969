// Keeps the current state of every inspected actor, from XState's inspection events, and
// tells listeners about each change. Attached only when inspection is asked for: the actors
// get no inspect callback otherwise (zero cost when off).
import type { InspectionEvent } from "xstate";

/** What the live view shows about one actor. */
export interface ActorView {
  /** The actor's session id (unique in the process). */
  sessionId: string;
  /** The machine's id ("pd", "store", "region", "retry"). */
  machine: string;
  /** The actor's id within its system. */
  actorId: string;
  /** The current state value as text ("connected.idle", "backingOff"). */
  state: string;
  /** Type of the last event the actor processed. */
  lastEvent: string;
  /** State changes seen so far. */
  transitions: number;
  /** "active", "done", "error" or "stopped". */
  status: string;
  /** ms since epoch of the last change. */
  updatedAt: number;
}

/** A change to one actor's view. */
export type ViewListener = (view: ActorView) => void;

/** Text form of a state value: "a", "a.b", "a.b|c.d" for parallel states. */
export function stateText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateText(v);
        return inner ? `${k}.${inner}` : k;
      })
      .join("|");
  }
  return "";
}

/** A readable name for an actor, from what its context says (store id, region id, leader). */
export function actorLabel(machine: string, context: unknown, fallback: string): string {
  const c = context as Record<string, unknown> | undefined;
  if (!c || typeof c !== "object") return fallback;
  if (c.storeId !== undefined) return `store ${String(c.storeId)}`;
  if (c.regionId !== undefined) return `region ${String(c.regionId)}`;
  const region = (c.s as { selector?: { region?: { id?: unknown } } } | undefined)?.selector?.region?.id;
  if (region !== undefined) return `request on region ${String(region)}`;
  if (machine === "pd" && typeof c.leader === "string") return `leader ${c.leader}`;
  return fallback;
}

/** What an inspection event's actorRef carries that the inspectors read. */
export interface InspectedRef {
  sessionId: string;
  id: string;
  logic?: { id?: string; config?: { id?: string } };
}

/** The machine id of a statechart actor; undefined for callback / promise children. */
export function machineOf(ref: InspectedRef): string | undefined {
  return ref.logic?.id ?? ref.logic?.config?.id;
}

/** Collects actor views from inspection events; pass {@link LiveInspector.inspect} to createActor. */
export class LiveInspector {
  private readonly views = new Map<string, ActorView>();
  private readonly listeners = new Set<ViewListener>();
  /** Views of finished actors are kept this long so a page can show the final state (ms). */
  constructor(
    private readonly keepFinishedMs = 5_000,
    private readonly maxViews = 500,
  ) {}

  /** The inspection observer (bound; safe to pass around). */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== "@xstate.snapshot" && ev.type !== "@xstate.event") return;
    const ref = ev.actorRef as unknown as InspectedRef;
    const machine = machineOf(ref);
    if (!machine) return; // callback / promise children: not statecharts
    let view = this.views.get(ref.sessionId);
    if (!view) {
      view = {
        sessionId: ref.sessionId,
        machine,
        actorId: ref.id,
        state: "",
        lastEvent: "",
        transitions: 0,
        status: "active",
        updatedAt: Date.now(),
      };
      this.views.set(ref.sessionId, view);
      this.trim();
    }
    if (ev.type === "@xstate.event") {
      view.lastEvent = ev.event.type;
      return;
    }
    const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown };
    view.actorId = actorLabel(machine, snap.context, ref.id);
    const state = stateText(snap.value);
    const status = snap.status ?? "active";
    if (state === view.state && status === view.status) return;
    if (view.state !== "") view.transitions++;
    view.state = state;
    view.status = status;
    view.updatedAt = Date.now();
    this.publish(view);
    if (status !== "active") {
      const id = ref.sessionId;
      const t = setTimeout(() => this.views.delete(id), this.keepFinishedMs);
      t.unref?.();
    }
  };

  /** Every view, newest change last. */
  snapshot(): ActorView[] {
    return [...this.views.values()].sort((a, b) => a.updatedAt - b.updatedAt).map((v) => ({ ...v }));
  }

  /** Calls `l` on every change; returns the unsubscribe function. */
  subscribe(l: ViewListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private publish(view: ActorView): void {
    const copy = { ...view };
    for (const l of this.listeners) {
      try {
        l(copy);
      } catch {
        // a listener's failure must never reach the actor that is being inspected
      }
    }
  }

  private trim(): void {
    if (this.views.size <= this.maxViews) return;
    for (const [id, v] of this.views) {
      if (v.status !== "active") this.views.delete(id);
      if (this.views.size <= this.maxViews) return;
    }
  }
}
