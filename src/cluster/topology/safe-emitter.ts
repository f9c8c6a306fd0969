// An eventemitter3 emitter whose listeners cannot break the emitter: each listener runs inside
// try/catch (DESIGN.md: public hooks wrap user listeners), so one that throws neither stops the
// others nor fails the topology operation that emitted.
import { EventEmitter } from "eventemitter3";

type Listener = (...args: never[]) => void;

/** EventEmitter whose listeners are isolated from each other and from the emitter. */
export class SafeEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  private readonly wrapped = new WeakMap<Listener, Listener>();

  private wrap(fn: Listener): Listener {
    let w = this.wrapped.get(fn);
    if (!w) {
      w = (...args: never[]) => {
        try {
          fn(...args);
        } catch {
          // A failing listener is the listener's problem.
        }
      };
      this.wrapped.set(fn, w);
    }
    return w;
  }

  override on(event: never, fn: never, context?: unknown): this {
    return super.on(event, this.wrap(fn) as never, context);
  }

  override addListener(event: never, fn: never, context?: unknown): this {
    return super.addListener(event, this.wrap(fn) as never, context);
  }

  override once(event: never, fn: never, context?: unknown): this {
    return super.once(event, this.wrap(fn) as never, context);
  }

  override off(event: never, fn?: never, context?: unknown, once?: boolean): this {
    return super.off(event, (fn && (this.wrapped.get(fn) ?? fn)) as never, context, once);
  }

  override removeListener(event: never, fn?: never, context?: unknown, once?: boolean): this {
    return super.removeListener(event, (fn && (this.wrapped.get(fn) ?? fn)) as never, context, once);
  }
}
