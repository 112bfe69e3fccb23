import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsLayout } from "@chime/sdk";
import { TEST_NATS_URL } from "./env.js";

/** Deletes every stream and bucket of a test's NATS prefix, so nothing is left behind. */
export async function deleteNatsPrefix(prefix: string): Promise<void> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const layout = natsLayout(prefix);
    for (const stream of [layout.runsStream, layout.eventsStream, `KV_${layout.cancelBucket}`]) {
      await jsm.streams.delete(stream).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}
