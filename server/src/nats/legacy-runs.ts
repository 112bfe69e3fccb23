import type { JetStreamClient, MsgRequest } from "@nats-io/jetstream";
import { decodeRunAssignment, type NatsLayout } from "@chime/sdk";
import type { Logger } from "../logger.js";

/**
 * Moves runs published before subjects carried the namespace. Those wait on
 * `<prefix>.runs.<queue>`, which no consumer of this version takes (workers filter on
 * `<prefix>.runs.<namespace>.<queue>`); a message of the work queue is never dropped, so
 * they would wait for ever. The reconciler would not save them: it republishes only runs with
 * no recorded dispatch, and a republish under the run id within JetStream's 10-minute
 * duplicate window is dropped. Each is published again on its namespace's subject (the
 * namespace is in the RunAssignment) and then deleted: a crash in between leaves both, and the
 * second move's publish is a duplicate JetStream drops (its message id is the old message's
 * sequence, not the run id, which the run's first publish may hold in the dedup window).
 *
 * A queue whose consumer still filters on its old subject and shows workers (pull requests
 * waiting or runs in flight) is left to those old workers; once an upgraded worker moves the
 * consumer to the new subject, or no worker shows, its runs are moved. A run an old worker
 * had taken when its message moved may run again (at least once, as after any lost ack).
 * One stream read per call when nothing is left to move (the leader calls it every reconcile
 * pass). Returns the runs moved.
 */
export async function moveLegacyRuns(js: JetStreamClient, layout: NatsLayout, logger: Logger): Promise<number> {
  const jsm = await js.jetstreamManager();
  const info = await jsm.streams.info(layout.runsStream, { subjects_filter: layout.legacyRunSubjects });
  if (Object.keys(info.state.subjects ?? {}).length === 0) return 0;
  const servedByOldWorkers = new Set<string>();
  for await (const consumer of jsm.consumers.list(layout.runsStream)) {
    const taken = layout.parseQueueFilter(consumer.config.filter_subject);
    if (taken?.legacy && (consumer.num_waiting > 0 || consumer.num_ack_pending > 0)) servedByOldWorkers.add(taken.queue);
  }
  let moved = 0;
  for (let seq = 1; ; ) {
    // STREAM.MSG.GET takes next_by_subj (nats-server 2.9 and later) though NATS.js types it for direct gets only.
    const next = { seq, next_by_subj: layout.legacyRunSubjects } as unknown as MsgRequest;
    const msg = await jsm.streams.getMessage(layout.runsStream, next);
    if (!msg) break;
    seq = msg.seq + 1;
    const queue = layout.parseQueueFilter(msg.subject)?.queue;
    if (!queue || servedByOldWorkers.has(queue)) continue;
    let namespace: string;
    try {
      namespace = decodeRunAssignment(msg.data).namespace;
    } catch {
      namespace = "";
    }
    if (namespace) await js.publish(layout.runSubject(namespace, queue), msg.data, { msgID: `moved-${msg.seq}` });
    // An undecodable message is what a worker would have terminated: it goes without a copy.
    else logger.warn({ seq: msg.seq, subject: msg.subject }, "dropping an undecodable run message from an old subject");
    await jsm.streams.deleteMessage(layout.runsStream, msg.seq, false);
    moved++;
  }
  if (moved) logger.info({ moved }, "moved runs published before subjects carried the namespace to their namespace's subject");
  return moved;
}
