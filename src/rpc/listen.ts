// Starts a Node server listening and waits for it: one place for the once("error") / listen
// dance, so a failed bind rejects and a later error is not swallowed by a stale listener.

import type { Server as NetServer } from "node:net";

/** Listens on `host:port` (0 = any free port); resolves with the bound port, rejects when the bind fails. */
export function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}
