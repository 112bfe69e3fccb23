import { startMaxDeliveriesWatch } from "../runs/max-deliveries.js";
import { startStatusIngest } from "../runs/status-ingest.js";
import type { ChimeService } from "./service.js";

/**
 * The ingest role writes worker status into Postgres and ends runs whose deliveries ran out;
 * a process of its own takes that load off the api and the scheduler (every ingest replica
 * shares one durable consumer, so replicas split the load).
 */
export const ingestRole: ChimeService = {
  name: "ingest",
  roles: ["ingest"],
  start({ config, pool, nats, jetStream, layout, metrics, logger }) {
    const ingest = startStatusIngest({ js: jetStream.ready, pool, layout, prefix: config.natsPrefix, metrics, logger });
    const maxDeliveries = startMaxDeliveriesWatch({ ready: jetStream.ready, connection: nats.current, layout, logger });
    return {
      async stop() {
        maxDeliveries.stop();
        await ingest.stop();
      },
    };
  },
};
