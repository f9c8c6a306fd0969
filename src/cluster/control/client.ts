import { decodeControlJson, encodeControlJson } from "./wire-json.js";

/** Every method of `T` made asynchronous, as it is when called across processes. */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * The client side of {@link ControlServer}: `control.target<Topology>("topology").split(...)`
 * calls the cluster running in another process.
 *
 * @example
 * const control = new ControlClient(process.env.TIKV_TS_CONTROL!);
 * await control.target<ClusterTopology>("topology").transferLeader(regionId, storeId);
 */
export class ControlClient {
  constructor(readonly url: string) {}

  /** A typed proxy whose method calls go over the channel. */
  target<T extends object>(name: string): Remote<T> {
    return new Proxy({} as Remote<T>, {
      get: (_t, method) => {
        if (typeof method !== "string" || method === "then") return undefined;
        return (...args: unknown[]) => this.call(name, method, args);
      },
    });
  }

  /** Calls `target.method(...args)` in the cluster process; rethrows its error. */
  async call(target: string, method: string, args: unknown[]): Promise<unknown> {
    const res = await fetch(`${this.url}/call/${target}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: encodeControlJson(args),
    });
    const body = decodeControlJson(await res.text()) as { result?: unknown; error?: Error };
    if (body.error) throw body.error;
    return body.result;
  }
}
