import { describe, expect, it } from "vitest";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { service as healthService } from "grpc-health-check";
import { healthFileDescriptor } from "./health-descriptor.js";

type Codec = { requestSerialize(value: unknown): Buffer; responseSerialize(value: unknown): Buffer; responseDeserialize(bytes: Buffer): unknown };
const served = healthService as unknown as Record<"Check" | "List" | "Watch", Codec>;

describe("the reflected grpc.health.v1 descriptor", () => {
  const file = fromBinary(FileDescriptorProtoSchema, healthFileDescriptor());
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [file] }));

  it("resolves every type it names", () => {
    const service = registry.getService("grpc.health.v1.Health");
    expect(service?.methods.map((m) => [m.name, m.methodKind])).toEqual([
      ["Check", "unary"],
      ["List", "unary"],
      ["Watch", "server_streaming"],
    ]);
    const list = registry.getMessage("grpc.health.v1.HealthListResponse");
    expect(list?.fields[0].fieldKind).toBe("map");
  });

  it("matches the wire format grpc-health-check serves", () => {
    const request = registry.getMessage("grpc.health.v1.HealthCheckRequest")!;
    const response = registry.getMessage("grpc.health.v1.HealthCheckResponse")!;
    const list = registry.getMessage("grpc.health.v1.HealthListResponse")!;

    const sent = fromBinary(request, served.Check.requestSerialize({ service: "chime.v1.JobService" }));
    expect((sent as unknown as { service: string }).service).toBe("chime.v1.JobService");
    const status = fromBinary(response, served.Check.responseSerialize({ status: "NOT_SERVING" }));
    expect((status as unknown as { status: number }).status).toBe(2);

    const statuses = fromBinary(list, served.List.responseSerialize({ statuses: { "": { status: "SERVING" }, x: { status: "NOT_SERVING" } } }));
    const map = (statuses as unknown as { statuses: Record<string, { status: number }> }).statuses;
    expect(Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v.status]))).toEqual({ "": 1, x: 2 });
    // And back: what a reflection client encodes, grpc-health-check reads.
    const encoded = Buffer.from(toBinary(response, create(response, { status: 1 } as never)));
    expect(served.Check.responseDeserialize(encoded)).toMatchObject({ status: "SERVING" });
  });
});
