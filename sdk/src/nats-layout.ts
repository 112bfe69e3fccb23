/**
 * Names of every NATS stream, subject, consumer and bucket Chime uses, shared by the
 * server and the SDK Worker. Every name starts with a configurable prefix so that
 * tests and tenants never see each other's.
 *
 * Run and status subjects carry the job's namespace, then its queue
 * (`<prefix>.runs.<namespace>.<queue>`), so that NATS permissions can keep a worker to its
 * namespace. Namespaces, queues and the prefix are 1-64 letters, digits, `_` or `-`: single
 * subject tokens, never a wildcard.
 */
export function natsLayout(prefix: string) {
  const runsRoot = `${prefix}.runs.`;
  const eventsRoot = `${prefix}.events.`;
  return {
    /** Work-queue stream of RunAssignment messages. */
    runsStream: `${prefix}_RUNS`,
    runsSubjects: `${prefix}.runs.>`,
    runSubject: (namespace: string, queue: string) => `${runsRoot}${namespace}.${queue}`,
    /** What a queue's consumer takes: one namespace's runs, or (no namespace) every namespace's. */
    queueFilter: (namespace: string | undefined, queue: string) => `${runsRoot}${namespace ?? "*"}.${queue}`,
    /**
     * Durable pull consumer shared by the workers of a queue: of one namespace
     * (`<prefix>_runs_<queue>@<namespace>`: `@` is in no queue name, so no two collide), or
     * of every namespace (`<prefix>_runs_<queue>`, the name from before namespaced subjects).
     */
    queueConsumer: (namespace: string | undefined, queue: string) => `${prefix}_runs_${queue}${namespace === undefined ? "" : `@${namespace}`}`,
    /**
     * The namespace and queue a runs-stream consumer's filter takes (namespace undefined: every
     * namespace), `legacy` for the `<prefix>.runs.<queue>` subjects of before 0.x; undefined for
     * any other filter.
     */
    parseQueueFilter(filter: string | undefined): { namespace?: string; queue: string; legacy?: true } | undefined {
      if (!filter?.startsWith(runsRoot)) return undefined;
      const tokens = filter.slice(runsRoot.length).split(".");
      if (tokens.length === 1 && tokens[0] !== "*" && tokens[0] !== ">") return { queue: tokens[0], legacy: true };
      if (tokens.length !== 2 || tokens[1] === "*" || tokens[1] === ">" || tokens[0] === ">") return undefined;
      return tokens[0] === "*" ? { queue: tokens[1] } : { namespace: tokens[0], queue: tokens[1] };
    },
    /** Subjects of runs published before subjects carried the namespace (`<prefix>.runs.<queue>`). */
    legacyRunSubjects: `${runsRoot}*`,
    /** Limits-retention stream of RunStatusBatch messages from workers. */
    eventsStream: `${prefix}_EVENTS`,
    eventsSubjects: `${prefix}.events.>`,
    /**
     * Where a queue's workers report: a namespaced worker to its namespace's subject, which the
     * ingester holds to runs of that namespace; a worker of every namespace (its batches mix
     * them) to `<prefix>.events.<queue>`, a subject only workers trusted with every namespace
     * may publish to.
     */
    eventSubject: (namespace: string | undefined, queue: string) => `${eventsRoot}${namespace === undefined ? "" : `${namespace}.`}${queue}`,
    /**
     * The namespace an events subject claims: its first token after `events` whenever more
     * follow (so a longer subject cannot pass for one of every namespace); undefined for
     * `<prefix>.events.<queue>`.
     */
    eventNamespace(subject: string): string | undefined {
      if (!subject.startsWith(eventsRoot)) return undefined;
      const rest = subject.slice(eventsRoot.length);
      const dot = rest.indexOf(".");
      return dot < 0 ? undefined : rest.slice(0, dot);
    },
    /** Durable pull consumer the api replicas share to ingest the events stream. */
    ingestConsumer: `${prefix}_ingest`,
    /** KV bucket: key = run id, present when the run was cancelled. */
    cancelBucket: `${prefix}_cancels`,
    /** KV bucket: key = run id, how many of its deliveries stopping workers handed back unstarted. */
    handbackBucket: `${prefix}_handbacks`,
  };
}

export type NatsLayout = ReturnType<typeof natsLayout>;
