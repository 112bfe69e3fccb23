import { fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsLayout, RunAssignmentSchema, RunStatusBatchSchema, type NatsLayout, type RunAssignment, type RunStatusUpdate } from "@chime/sdk";
import { TEST_NATS_URL } from "./env.js";

/**
 * Every RunAssignment still in a prefix's runs stream, read by sequence number so that
 * nothing is consumed and no consumer is added (a work-queue stream admits no second
 * consumer overlapping the workers' ones).
 */
export function readRunMessages(prefix: string, natsUrl = TEST_NATS_URL): Promise<RunAssignment[]> {
  return readStream(prefix, (layout) => layout.runsStream, (data) => [fromBinary(RunAssignmentSchema, data)], natsUrl);
}

/** Each RunAssignment in a prefix's runs stream with the time JetStream stored it (its publish time). */
export function readRunPublishes(prefix: string, natsUrl = TEST_NATS_URL): Promise<{ run: RunAssignment; storedAt: Date }[]> {
  return readStream(prefix, (layout) => layout.runsStream, (data, storedAt) => [{ run: fromBinary(RunAssignmentSchema, data), storedAt }], natsUrl);
}

/** Every RunStatusUpdate in a prefix's events stream, in the order the workers' batches were stored. */
export function readStatusUpdates(prefix: string, natsUrl = TEST_NATS_URL): Promise<RunStatusUpdate[]> {
  return readStream(prefix, (layout) => layout.eventsStream, (data) => fromBinary(RunStatusBatchSchema, data).updates, natsUrl);
}

async function readStream<T>(prefix: string, streamOf: (layout: NatsLayout) => string, decode: (data: Uint8Array, storedAt: Date) => T[], natsUrl: string): Promise<T[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const stream = streamOf(natsLayout(prefix));
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(stream);
    const messages: T[] = [];
    const CHUNK = 256;
    for (let seq = state.first_seq; seq <= state.last_seq; seq += CHUNK) {
      const chunk = Array.from({ length: Math.min(CHUNK, state.last_seq - seq + 1) }, (_, i) => seq + i);
      const stored = await Promise.all(chunk.map((s) => jsm.streams.getMessage(stream, { seq: s }).catch(() => null)));
      for (const message of stored) if (message) messages.push(...decode(message.data, message.time));
    }
    return messages;
  } finally {
    await nc.close();
  }
}
