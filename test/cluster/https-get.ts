// GET over https with a CA and an optional client certificate (Node's fetch takes neither).
import { request } from "node:https";

/** Client TLS material in PEM. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** GETs `url`; resolves with the status and body text, rejects when the handshake fails. */
export function httpsGet(url: string, tls: ClientTls): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: tls.ca, cert: tls.cert, key: tls.key, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(3000, () => req.destroy(new Error("timeout")));
    req.end();
  });
}
