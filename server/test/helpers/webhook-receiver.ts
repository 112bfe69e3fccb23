import http from "node:http";
import type { AddressInfo } from "node:net";

/** A request the receiver accepted. */
export interface ReceivedHook {
  body: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * A webhook receiver on loopback for alert tests: answers 500 to its first `failFirst`
 * requests (a delivery to retry), then 204, keeping what it accepted.
 */
export async function startWebhookReceiver(failFirst = 0) {
  const received: ReceivedHook[] = [];
  let refused = 0;
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      if (refused < failFirst) {
        refused++;
        response.writeHead(500).end("not now");
        return;
      }
      received.push({ body, headers: request.headers });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
