import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

// gRPC reflection serves the proto's comments (grpcurl describe, buf curl show them).
const REFLECTION_PROTO = createRequire(import.meta.url).resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

/** The FileDescriptorProtos reflection returns for the file that defines `symbol`. */
function filesContaining(symbol: string): Promise<FileDescriptorProto[]> {
  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(REFLECTION_PROTO, { keepCase: true, defaults: true, oneofs: true }));
  const Reflection = (definition.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
  const Service = (Reflection.v1 as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
  const client = new Service(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  return new Promise<FileDescriptorProto[]>((resolve, reject) => {
    const call = client.ServerReflectionInfo({ deadline: Date.now() + 10_000 }) as grpc.ClientDuplexStream<unknown, { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }>;
    call.on("data", (response) => {
      const protos = response.file_descriptor_response?.file_descriptor_proto ?? [];
      resolve(protos.map((bytes: Buffer) => fromBinary(FileDescriptorProtoSchema, bytes)));
      call.cancel();
    });
    call.on("error", (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
    call.write({ file_containing_symbol: symbol });
  }).finally(() => client.close());
}

describe("gRPC reflection", () => {
  it("describes JobService with the comments of its proto", async () => {
    const files = await filesContaining("chime.v1.JobService");
    const jobService = files.find((f) => f.name === "chime/v1/job_service.proto");
    expect(jobService, files.map((f) => f.name).join(", ")).toBeDefined();
    const comments = jobService!.sourceCodeInfo?.location.map((l) => l.leadingComments) ?? [];
    expect(comments).toContainEqual(expect.stringContaining("Creates a job; it fires from then on by its schedule."));
    // The well-known types it imports come along, so a client can resolve every field.
    expect(files.map((f) => f.name)).toContain("google/protobuf/timestamp.proto");
  });
});
