import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createChimeClient } from "@chime/sdk";
import { createChimeClient as createWebChimeClient } from "@chime/sdk/web";
import { codeOf } from "./helpers/error-code.js";
import { useTestServer } from "./helpers/test-server.js";

const TOKEN = "custom-transport-token";
const fixture = useTestServer({ CHIME_API_TOKEN: TOKEN });

// A transport the caller built (Connect over HTTP/1.1 to the HTTP port) carries its own
// interceptors; the client's token and deadline must still reach every call.
function connectTransport() {
  return createConnectTransport({ baseUrl: fixture.server.httpUrl, httpVersion: "1.1" });
}

describe("createChimeClient with a custom transport", () => {
  it("sends the token (a call without it is refused)", async () => {
    const without = createChimeClient({ baseUrl: fixture.server.httpUrl, transport: connectTransport() });
    expect(await codeOf(without.getJob("00000000-0000-0000-0000-000000000000"))).toBe(Code.Unauthenticated);

    for (const chime of [
      createChimeClient({ baseUrl: fixture.server.httpUrl, transport: connectTransport(), token: TOKEN }),
      createWebChimeClient({ transport: connectTransport(), token: TOKEN }),
    ]) {
      const job = await chime.createJob({ name: "custom-transport", queue: "q", schedule: { every: "1h" } });
      expect((await chime.getJob(job.id)).name).toBe("custom-transport");
      await chime.deleteJob(job.id);
    }
  });

  it("applies timeoutMs as each call's deadline", async () => {
    // 1 ms cannot cover a round trip through the server and Postgres.
    const chime = createChimeClient({ baseUrl: fixture.server.httpUrl, transport: connectTransport(), token: TOKEN, timeoutMs: 1 });
    expect(await codeOf(chime.previewSchedule({ cron: "0 0 * * * *" }, 1000))).toBe(Code.DeadlineExceeded);
    const patient = createChimeClient({ baseUrl: fixture.server.httpUrl, transport: connectTransport(), token: TOKEN, timeoutMs: 30_000 });
    expect(await patient.previewSchedule({ cron: "0 0 * * * *" }, 3)).toHaveLength(3);
  });
});
