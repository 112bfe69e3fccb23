import { fromBinary } from "@bufbuild/protobuf";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsLayout, RunAssignmentSchema, type RunAssignment } from "@chime/sdk";
import { TEST_NATS_URL } from "./env.js";

/** Every RunAssignment in a prefix's runs stream (read without consuming them). */
export async function readRunMessages(prefix: string, natsUrl = TEST_NATS_URL): Promise<RunAssignment[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const layout = natsLayout(prefix);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(layout.runsStream);
    const total = info.state.messages;
    if (total === 0) return [];
    // A short-lived consumer that never acks reads without removing (workqueue streams delete on ack).
    const name = `reader_${Date.now()}`;
    await jsm.consumers.add(layout.runsStream, {
      name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: total + 1,
    });
    try {
      const consumer = await jetstream(nc).consumers.get(layout.runsStream, name);
      const messages: RunAssignment[] = [];
      while (messages.length < total) {
        const batch = await consumer.fetch({ max_messages: Math.min(1000, total - messages.length), expires: 2000 });
        let got = 0;
        for await (const m of batch) {
          messages.push(fromBinary(RunAssignmentSchema, m.data));
          got++;
        }
        if (got === 0) break;
      }
      return messages;
    } finally {
      await jsm.consumers.delete(layout.runsStream, name).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}
