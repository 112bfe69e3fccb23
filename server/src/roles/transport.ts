import { JOB_RESPONSE_ENCODERS } from "../api/job-wire.js";
import { startConnectServer } from "../transport/connect-server.js";
import { startGrpcServer } from "../transport/grpc-server.js";
import { createHealthMonitor } from "../transport/health.js";
import { watchTlsFiles } from "../transport/tls-files.js";
import { remainingMs, type ChimeService } from "./service.js";

/** Ports the transports bound (port 0 in the configuration means the kernel's choice). */
export interface TransportPorts {
  grpcPort: number;
  httpPort: number;
}

/**
 * Both transports (gRPC over HTTP/2; Connect, gRPC-Web, probes and /metrics over HTTP/1.1)
 * and the health monitor behind their probes. Every process runs them, whatever its roles:
 * a process without the api role still answers health, probes and metrics.
 */
export function transportService(ports: (bound: TransportPorts) => void): ChimeService {
  return {
    name: "transport",
    async start({ config, nats, jetStream, served, auth, metrics, logger, shutdownSignal, endStreams }) {
      const health = createHealthMonitor({
        databaseUrl: config.databaseUrl,
        nats: nats.current,
        intervalMs: config.healthIntervalMs,
        services: served.map((s) => s.service.typeName),
        roles: config.roles,
        logger,
      });
      // Give NATS a moment so a normal start reports SERVING at once; a NATS outage does not block the start.
      await Promise.race([jetStream.ready, new Promise((resolve) => setTimeout(resolve, 2000))]);
      await health.start();

      // TLS material is read (and checked) before either port opens; both watch the same files.
      const tls = config.tls ? watchTlsFiles(config.tls, logger) : undefined;
      const grpcServer = await startGrpcServer({
        services: served,
        host: config.host,
        port: config.grpcPort,
        maxMessageBytes: config.maxMessageBytes,
        shutdownSignal,
        health,
        logger,
        responseEncoders: JOB_RESPONSE_ENCODERS,
        tls,
        reflectionAuth: config.reflectionAccess === "key" ? auth.authenticate : undefined,
      }).catch((error: unknown) => {
        health.stop();
        tls?.close();
        throw error;
      });
      const connectServer = await startConnectServer({
        services: served,
        host: config.host,
        port: config.httpPort,
        maxMessageBytes: config.maxMessageBytes,
        requestTimeoutMs: config.requestTimeoutMs,
        shutdownSignal,
        health,
        roles: config.roles,
        metrics,
        dashboardDir: config.roles.has("api") ? config.dashboardDir : undefined,
        tls,
        corsOrigins: config.corsOrigins,
        metricsAuth: config.metricsAccess === "key" ? auth.authenticate : undefined,
      }).catch(async (error: unknown) => {
        await grpcServer.close(0);
        health.stop();
        tls?.close();
        throw error;
      });
      ports({ grpcPort: grpcServer.port, httpPort: connectServer.port });
      return {
        async stop(deadline) {
          health.stop();
          const closing = Promise.all([grpcServer.close(remainingMs(deadline)), connectServer.close(remainingMs(deadline))]);
          // Streams end at once; unary calls get the grace period to finish.
          endStreams();
          await closing;
          tls?.close();
        },
      };
    },
  };
}
