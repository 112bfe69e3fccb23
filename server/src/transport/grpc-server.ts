import { setMaxListeners } from "node:events";
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../logger.js";
import { addServiceImpl } from "./grpc-adapter.js";
import type { HealthMonitor } from "./health.js";
import { healthFileDescriptor } from "./health-descriptor.js";
import { addReflection } from "./reflection.js";
import { grpcServerCredentials } from "./grpc-tls.js";
import type { TlsSource } from "./tls-files.js";
import type { Authenticator } from "../auth/authenticate.js";

export interface GrpcServerOptions {
  services: Array<{ service: DescService; impl: ServiceImpl<DescService> }>;
  host: string;
  port: number;
  maxMessageBytes: number;
  shutdownSignal: AbortSignal;
  health: HealthMonitor;
  logger: Logger;
  /** Encoders for particular response messages (see GrpcAdapterOptions). */
  responseEncoders?: ReadonlyMap<string, (message: never) => Uint8Array>;
  /** TLS (and mTLS with a client CA) instead of h2c; reloaded when its files change. */
  tls?: TlsSource;
  /** Set: reflection needs an API key (CHIME_REFLECTION_ACCESS=key). */
  reflectionAuth?: Authenticator;
}

/** gRPC over h2c (or TLS) by grpc-js: the services, reflection (v1, v1alpha) and grpc.health.v1. */
export async function startGrpcServer(options: GrpcServerOptions) {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
  });
  // Every call in flight listens to the shutdown signal: many at once is normal, not a leak.
  setMaxListeners(0, options.shutdownSignal);
  for (const { service, impl } of options.services) {
    addServiceImpl(server, service, impl, {
      shutdownSignal: options.shutdownSignal,
      logger: options.logger,
      responseEncoders: options.responseEncoders,
    });
  }
  addReflection(server, options.services.map((s) => s.service), [
    { name: "grpc.health.v1.Health", fileDescriptorProtos: [healthFileDescriptor()] },
  ], options.reflectionAuth);
  options.health.grpcHealth.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpcServerCredentials(options.tls), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return {
    port,
    async close(graceMs: number) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
