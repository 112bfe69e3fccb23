import { fromBinary, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { ReflectionService } from "@grpc/reflection";
import type { Authenticator } from "../auth/authenticate.js";
import { CHIME_DESCRIPTORS_WITH_COMMENTS } from "../gen/reflection-descriptors.js";

/**
 * The chime.v1 files as `buf build` describes them, comments included (scripts/generate.sh);
 * the generated code's embedded descriptors carry none. Other files (google.protobuf) are
 * served from the generated code.
 */
const commentedFiles = new Map(
  fromBinary(FileDescriptorSetSchema, Buffer.from(CHIME_DESCRIPTORS_WITH_COMMENTS, "base64")).file.map((f) => [f.name, f]),
);

/** A service served by other means (grpc.health.v1), described by its serialized FileDescriptorProtos. */
export interface ExtraReflectedService {
  name: string;
  fileDescriptorProtos: Buffer[];
}

/**
 * gRPC server reflection (v1 and v1alpha) built from the generated descriptors, with the
 * proto comments, so grpcurl and buf curl work (and describe) with no proto files at hand. `extra` adds services whose
 * descriptors come from elsewhere (the health service), so they can be called too.
 */
export function addReflection(server: grpc.Server, services: DescService[], extra: ExtraReflectedService[] = [], authenticate?: Authenticator): void {
  const files = new Map<string, Buffer>();
  const collect = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, commentedFiles.get(file.proto.name) ?? file.proto)));
    file.dependencies.forEach(collect);
  };
  services.forEach((service) => collect(service.file));
  // @grpc/reflection reads `fileDescriptorProtos` from each entry of a package definition.
  const definition: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const service of services) definition[service.typeName] = { fileDescriptorProtos: [...files.values()] };
  for (const service of extra) definition[service.name] = { fileDescriptorProtos: service.fileDescriptorProtos };
  const reflection = new ReflectionService(definition as never, {
    services: [...services.map((s) => s.typeName), ...extra.map((s) => s.name)],
  });
  reflection.addToServer(authenticate ? requiringKey(server, authenticate) : server);
}

/**
 * The server as @grpc/reflection sees it: each reflection stream starts only once its
 * caller's key is accepted (CHIME_REFLECTION_ACCESS=key). Requests that arrive meanwhile
 * wait in the stream, which is not read before the handler is attached.
 */
function requiringKey(server: grpc.Server, authenticate: Authenticator): grpc.Server {
  const addService: grpc.Server["addService"] = (definition, implementation) => {
    const guarded: grpc.UntypedServiceImplementation = {};
    for (const [name, handler] of Object.entries(implementation)) {
      guarded[name] = (stream: grpc.ServerDuplexStream<unknown, unknown>) => {
        const authorization = stream.metadata.get("authorization")[0];
        authenticate(typeof authorization === "string" ? authorization : null).then(
          () => (handler as (s: typeof stream) => void)(stream),
          (error: unknown) => stream.emit("error", { code: grpc.status.UNAUTHENTICATED, details: ConnectError.from(error).rawMessage }),
        );
      };
    }
    server.addService(definition, guarded);
  };
  return { addService } as unknown as grpc.Server;
}
