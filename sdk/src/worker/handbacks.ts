import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";

/**
 * The deliveries of each run that a stopping worker handed back without starting them, in a
 * KV bucket (key: run id, value: how many). JetStream counts every delivery, a handed-back
 * one too; a worker counts a run's attempt as its deliveries less those handed back, so a
 * graceful stop costs no run an attempt it did not make (a run allowed one attempt would
 * otherwise fail as "lost" on the next worker). Only a redelivery reads the bucket: a
 * first delivery is attempt 1 whatever it holds.
 *
 * Only one worker holds a delivery at a time, so the count read and written back by the
 * holder is not raced. The record is stored before the delivery is handed back (nak), so the
 * next worker finds it.
 *
 * The workers of one namespace key their records `<namespace>.<run id>`: a delivery goes back
 * to the consumer it came from, so only workers of that namespace read them, and NATS
 * permissions can keep a worker's writes to `$KV.<bucket>.<namespace>.>`.
 */
export class Handbacks {
  private constructor(
    private readonly kv: KV | undefined,
    private readonly keyPrefix: string,
  ) {}

  /** Opens the bucket; a server that predates it has none, and then every delivery counts. */
  static async open(js: JetStreamClient, bucket: string, namespace: string | undefined, onMissing: (error: unknown) => void): Promise<Handbacks> {
    const keyPrefix = namespace === undefined ? "" : `${namespace}.`;
    try {
      // Bound for direct gets where the bucket allows them (buckets made on NATS 2.9 and later
      // do): a direct get names the key in its subject, which permissions can hold to a namespace.
      const info = await (await js.jetstreamManager()).streams.info(`KV_${bucket}`);
      return new Handbacks(await new Kvm(js).open(bucket, { allow_direct: info.config.allow_direct === true }), keyPrefix);
    } catch (error) {
      onMissing(error);
      return new Handbacks(undefined, keyPrefix);
    }
  }

  /** The attempt a delivery is: its delivery count less the deliveries handed back unstarted. */
  async attemptOf(runId: string, deliveryCount: number): Promise<number> {
    if (deliveryCount <= 1) return deliveryCount;
    return Math.max(1, deliveryCount - (await this.count(runId)));
  }

  /** Records one more delivery of the run handed back unstarted. */
  async record(runId: string): Promise<void> {
    if (!this.kv) return;
    await this.kv.put(this.keyPrefix + runId, String((await this.count(runId)) + 1));
  }

  private async count(runId: string): Promise<number> {
    if (!this.kv) return 0;
    // Unreadable (NATS trouble): count every delivery, as if none was handed back.
    const entry = await this.kv.get(this.keyPrefix + runId).catch(() => null);
    if (!entry || entry.operation !== "PUT") return 0;
    const n = Number(entry.string());
    return Number.isInteger(n) && n > 0 ? n : 0;
  }
}
