import { fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsLayout, RunAssignmentSchema, type RunAssignment } from "@chime/sdk";
import { TEST_NATS_URL } from "./env.js";

/**
 * Every RunAssignment still in a prefix's runs stream, read by sequence number so that
 * nothing is consumed and no consumer is added (a work-queue stream admits no second
 * consumer overlapping the workers' ones).
 */
export async function readRunMessages(prefix: string, natsUrl = TEST_NATS_URL): Promise<RunAssignment[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const layout = natsLayout(prefix);
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(layout.runsStream);
    const messages: RunAssignment[] = [];
    const CHUNK = 256;
    for (let seq = state.first_seq; seq <= state.last_seq; seq += CHUNK) {
      const chunk = Array.from({ length: Math.min(CHUNK, state.last_seq - seq + 1) }, (_, i) => seq + i);
      const stored = await Promise.all(chunk.map((s) => jsm.streams.getMessage(layout.runsStream, { seq: s }).catch(() => null)));
      for (const message of stored) if (message) messages.push(fromBinary(RunAssignmentSchema, message.data));
    }
    return messages;
  } finally {
    await nc.close();
  }
}
