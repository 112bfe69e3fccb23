import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { natsLayout } from "@chime/sdk";

/** How long JetStream drops a republished run with the same Nats-Msg-Id (the run id). */
export const DEDUP_WINDOW_MS = 10 * 60_000;
/** How long status batches stay in the events stream after ingestion (for other replicas, replay). */
export const EVENTS_MAX_AGE_MS = 24 * 3_600_000;
/** How long a cancellation marker is kept. */
export const CANCEL_TTL_MS = 7 * 24 * 3_600_000;
/** How long a record of a run's handed-back deliveries is kept (a run waiting longer counts them as attempts). */
export const HANDBACK_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Creates the streams and bucket of a prefix, or brings existing ones to this
 * configuration (a changed replica count included: JetStream moves the data, nothing is
 * reset). Safe for several servers at once: adding a stream with the same configuration
 * is idempotent.
 */
export async function ensureStreams(nc: NatsConnection, prefix: string, replicas = 1): Promise<JetStreamManager> {
  const layout = natsLayout(prefix);
  const jsm = await jetstreamManager(nc);
  await addOrUpdate(jsm, {
    name: layout.runsStream,
    subjects: [layout.runsSubjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(DEDUP_WINDOW_MS),
    num_replicas: replicas,
  });
  await addOrUpdate(jsm, {
    name: layout.eventsStream,
    subjects: [layout.eventsSubjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(EVENTS_MAX_AGE_MS),
    num_replicas: replicas,
  });
  await ensureBucket(nc, jsm, layout.cancelBucket, CANCEL_TTL_MS, replicas);
  await ensureBucket(nc, jsm, layout.handbackBucket, HANDBACK_TTL_MS, replicas);
  return jsm;
}

async function ensureBucket(nc: NatsConnection, jsm: JetStreamManager, name: string, ttlMs: number, replicas: number): Promise<void> {
  await new Kvm(nc).create(name, { ttl: ttlMs, history: 1, replicas });
  // Kvm.create leaves an existing bucket's stream as it was: bring its replicas up to date.
  const bucketStream = `KV_${name}`;
  const bucket = await jsm.streams.info(bucketStream);
  if (bucket.config.num_replicas !== replicas) await jsm.streams.update(bucketStream, { ...bucket.config, num_replicas: replicas });
}

type StreamConfig = Parameters<JetStreamManager["streams"]["add"]>[0];

async function addOrUpdate(jsm: JetStreamManager, config: StreamConfig): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Exists with other settings (an older version of this config): bring it up to date.
    if (/already in use/i.test((error as Error).message)) await jsm.streams.update(config.name!, config);
    else throw error;
  }
}

/** Deletes a prefix's streams and bucket (tests and benchmarks clean up with it). */
export async function deleteStreams(nc: NatsConnection, prefix: string): Promise<void> {
  const layout = natsLayout(prefix);
  const jsm = await jetstreamManager(nc);
  for (const stream of [layout.runsStream, layout.eventsStream, `KV_${layout.cancelBucket}`, `KV_${layout.handbackBucket}`]) {
    await jsm.streams.delete(stream).catch(() => false);
  }
}
