import { create, toBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

/**
 * grpc/health/v1/health.proto as a FileDescriptorProto, for server reflection.
 *
 * grpc-health-check serves the service, but the descriptor protobufjs derives from its
 * proto is not one other tools accept (relative type names, a map entry named
 * "Statuses" instead of "StatusesEntry"): buf curl and grpcurl fail to build a schema
 * from it. So the file is written out here as protoc would produce it.
 */
export function healthFileDescriptor(): Buffer {
  const pkg = ".grpc.health.v1";
  const file = create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "HealthCheckRequest",
        field: [{ name: "service", jsonName: "service", number: 1, label: Label.OPTIONAL, type: Type.STRING }],
      },
      {
        name: "HealthListRequest",
      },
      {
        name: "HealthListResponse",
        field: [
          {
            name: "statuses",
            jsonName: "statuses",
            number: 1,
            label: Label.REPEATED,
            type: Type.MESSAGE,
            typeName: `${pkg}.HealthListResponse.StatusesEntry`,
          },
        ],
        nestedType: [
          {
            name: "StatusesEntry",
            field: [
              { name: "key", jsonName: "key", number: 1, label: Label.OPTIONAL, type: Type.STRING },
              { name: "value", jsonName: "value", number: 2, label: Label.OPTIONAL, type: Type.MESSAGE, typeName: `${pkg}.HealthCheckResponse` },
            ],
            options: { mapEntry: true },
          },
        ],
      },
      {
        name: "HealthCheckResponse",
        field: [
          {
            name: "status",
            jsonName: "status",
            number: 1,
            label: Label.OPTIONAL,
            type: Type.ENUM,
            typeName: `${pkg}.HealthCheckResponse.ServingStatus`,
          },
        ],
        enumType: [
          {
            name: "ServingStatus",
            value: [
              { name: "UNKNOWN", number: 0 },
              { name: "SERVING", number: 1 },
              { name: "NOT_SERVING", number: 2 },
              { name: "SERVICE_UNKNOWN", number: 3 },
            ],
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [
          { name: "Check", inputType: `${pkg}.HealthCheckRequest`, outputType: `${pkg}.HealthCheckResponse` },
          { name: "List", inputType: `${pkg}.HealthListRequest`, outputType: `${pkg}.HealthListResponse` },
          { name: "Watch", inputType: `${pkg}.HealthCheckRequest`, outputType: `${pkg}.HealthCheckResponse`, serverStreaming: true },
        ],
      },
    ],
    options: { goPackage: "google.golang.org/grpc/health/grpc_health_v1" },
  });
  return Buffer.from(toBinary(FileDescriptorProtoSchema, file));
}
