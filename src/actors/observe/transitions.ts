// Turns XState inspection events into ActorTransition records: remembers each actor's last
// state and the event it is processing, and reports a record whenever the state text changes.
import type { InspectionEvent } from "xstate";
import { actorLabel, type InspectedRef, machineOf, stateText } from "../inspect/live-inspector.js";
import type { ActorTransition } from "./events.js";

interface Seen {
  state: string;
  event: string;
}

/**
 * An inspection callback reporting each state change to `onTransition`; `txn` tags the records
 * (the actors of one transaction). Stops tracking an actor once it is no longer active.
 */
export function transitionInspector(
  onTransition: (t: ActorTransition) => void,
  txn?: string,
): (ev: InspectionEvent) => void {
  const seen = new Map<string, Seen>();
  return (ev) => {
    if (ev.type !== "@xstate.snapshot" && ev.type !== "@xstate.event") return;
    const ref = ev.actorRef as unknown as InspectedRef;
    const kind = machineOf(ref);
    if (!kind) return; // callback / promise children are not statecharts
    let s = seen.get(ref.sessionId);
    if (!s) {
      s = { state: "", event: "" };
      seen.set(ref.sessionId, s);
    }
    if (ev.type === "@xstate.event") {
      s.event = ev.event.type;
      return;
    }
    const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown };
    const to = stateText(snap.value);
    if (snap.status !== undefined && snap.status !== "active") seen.delete(ref.sessionId);
    if (to === s.state) return;
    const t: ActorTransition = {
      kind,
      actorId: actorLabel(kind, snap.context, ref.id),
      sessionId: ref.sessionId,
      from: s.state,
      to,
      event: s.state === "" ? "" : s.event,
      at: Date.now(),
    };
    if (txn !== undefined) t.txn = txn;
    s.state = to;
    onTransition(t);
  };
}
