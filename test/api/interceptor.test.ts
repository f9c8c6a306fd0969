// The RPC interceptor chain on its own (client-go tikvrpc/interceptor/interceptor_test.go and
// internal/client/client_interceptor_test.go TestAppendChainedInterceptor), plus what each bad
// input gets.

import { describe, expect, it } from "vitest";
import {
  chainRpcInterceptors,
  InvalidArgumentError,
  type RpcInterceptor,
  RpcInterceptorChain,
  type RpcRequest,
  rpcInterceptor,
} from "../../src/index.js";

const REQ: RpcRequest = {
  command: "Get",
  regionId: 1n,
  storeId: 1n,
  address: "127.0.0.1:1",
  context: {} as RpcRequest["context"],
  request: {},
  attempt: 0,
};

// client-go MockInterceptorManager: counts begins / ends and logs names in run order
function mockManager() {
  const m = {
    begin: 0,
    end: 0,
    log: [] as string[],
    create(name: string): RpcInterceptor {
      return rpcInterceptor(name, (next) => async (req) => {
        m.log.push(`begin ${name}`);
        m.begin++;
        try {
          return await next(req);
        } finally {
          m.end++;
          m.log.push(`end ${name}`);
        }
      });
    },
  };
  return m;
}

describe("RPC interceptor chain", () => {
  it("runs interceptors in link order as an onion (TestInterceptor)", async () => {
    const m = mockManager();
    const chain = new RpcInterceptorChain().link(m.create("INTERCEPTOR-1")).link(m.create("INTERCEPTOR-2"));
    const resp = await chain.wrap(async () => {
      m.log.push("send");
      return { ok: true };
    })(REQ);
    expect(resp).toEqual({ ok: true });
    expect(m.begin).toBe(2);
    expect(m.end).toBe(2);
    expect(m.log).toEqual([
      "begin INTERCEPTOR-1",
      "begin INTERCEPTOR-2",
      "send",
      "end INTERCEPTOR-2",
      "end INTERCEPTOR-1",
    ]);
  });

  it("flattens chained chains and keeps the last of a name (TestAppendChainedInterceptor)", async () => {
    const executed: number[] = [];
    const mk = (i: number) =>
      rpcInterceptor(String(i), (next) => (req) => {
        executed.push(i);
        return next(req);
      });
    const check = async (it: RpcInterceptorChain, count: number, expected: number[]) => {
      expect(it).toBeInstanceOf(RpcInterceptorChain);
      expect(it.length).toBe(count);
      executed.length = 0;
      await it.wrap(async () => ({}))(REQ);
      expect(executed).toEqual(expected);
    };
    let it: RpcInterceptor = mk(0);
    const expected = [0];
    for (let i = 1; i < 3; i++) {
      it = chainRpcInterceptors(it, mk(i));
      expected.push(i);
      await check(it as RpcInterceptorChain, i + 1, expected);
    }
    const it2 = chainRpcInterceptors(mk(3), mk(4));
    await check(it2, 2, [3, 4]);
    let chain = chainRpcInterceptors(it, it2);
    await check(chain, 5, [0, 1, 2, 3, 4]);
    // a duplicated name moves to the end
    chain = chainRpcInterceptors(chain, mk(1));
    await check(chain, 5, [0, 2, 3, 4, 1]);
    expect(chain.names).toEqual(["0", "2", "3", "4", "1"]);
  });

  it("chaining builds a new chain: the chains given are not changed", () => {
    const a = chainRpcInterceptors(rpcInterceptor("a", (n) => n));
    const b = chainRpcInterceptors(
      a,
      rpcInterceptor("b", (n) => n),
    );
    expect(a.length).toBe(1);
    expect(b.length).toBe(2);
  });

  it("bad input: InvalidArgumentError naming the argument", () => {
    expect(() => rpcInterceptor(1 as never, (n) => n)).toThrow(InvalidArgumentError);
    expect(() => rpcInterceptor("x", "nope" as never)).toThrow(/argument wrap/);
    expect(() => new RpcInterceptorChain().link({} as never)).toThrow(/argument interceptor/);
    expect(() => chainRpcInterceptors(null as never)).toThrow(InvalidArgumentError);
  });
});
