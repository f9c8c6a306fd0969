// The shared listen helper: resolves with the bound port, rejects when the port is taken, and
// leaves no error listener behind once bound.

import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { listen } from "../../../src/rpc/listen.js";

const open: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe("listen", () => {
  it("port 0 binds a free port and resolves with it; no error listener is left", async () => {
    const s = createServer();
    open.push(s);
    const port = await listen(s, 0, "127.0.0.1");
    expect(port).toBeGreaterThan(0);
    expect(s.address()).toMatchObject({ port });
    expect(s.listenerCount("error")).toBe(0);
  });

  it("a port in use rejects with EADDRINUSE", async () => {
    const a = createServer();
    open.push(a);
    const port = await listen(a, 0, "127.0.0.1");
    const b = createServer();
    await expect(listen(b, port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});
