import { connect } from "@nats-io/transport-node";
import { deleteStreams } from "../../src/nats/streams.js";
import { TEST_NATS_URL } from "./env.js";

/** Deletes every stream and bucket of a test's NATS prefix, so nothing is left behind. */
export async function deleteNatsPrefix(prefix: string): Promise<void> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    await deleteStreams(nc, prefix);
  } finally {
    await nc.close();
  }
}
