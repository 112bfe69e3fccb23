/**
 * Names of every NATS stream, subject, consumer and bucket Chime uses, shared by the
 * server and the SDK Worker. Every name starts with a configurable prefix so that
 * tests and tenants never see each other's.
 */
export function natsLayout(prefix: string) {
  return {
    /** Work-queue stream of RunAssignment messages. */
    runsStream: `${prefix}_RUNS`,
    runsSubjects: `${prefix}.runs.>`,
    runSubject: (queue: string) => `${prefix}.runs.${queue}`,
    /** Durable pull consumer shared by every worker of a queue. */
    queueConsumer: (queue: string) => `${prefix}_runs_${queue}`,
    /** Limits-retention stream of RunStatusBatch messages from workers. */
    eventsStream: `${prefix}_EVENTS`,
    eventsSubjects: `${prefix}.events.>`,
    eventSubject: (queue: string) => `${prefix}.events.${queue}`,
    /** Durable pull consumer the api replicas share to ingest the events stream. */
    ingestConsumer: `${prefix}_ingest`,
    /** KV bucket: key = run id, present when the run was cancelled. */
    cancelBucket: `${prefix}_cancels`,
    /** KV bucket: key = run id, how many of its deliveries stopping workers handed back unstarted. */
    handbackBucket: `${prefix}_handbacks`,
  };
}

export type NatsLayout = ReturnType<typeof natsLayout>;
