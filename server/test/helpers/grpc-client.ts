import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * A gRPC client built independently of the SDK: @grpc/grpc-js with @grpc/proto-loader
 * reading the .proto files in proto/ (snake_case fields, enums as names, 64-bit ints as
 * strings), the way a non-TypeScript team or a hand-written integration would call Chime.
 */

const PROTO_DIR = fileURLToPath(new URL("../../../proto/", import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  oneofs: true,
  defaults: true,
};

let chimePackage: grpc.GrpcObject | undefined;
let healthPackage: grpc.GrpcObject | undefined;

function chimeProto(): grpc.GrpcObject {
  chimePackage ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(["chime/v1/job_service.proto"], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] }),
  );
  return chimePackage;
}

function healthProto(): grpc.GrpcObject {
  healthPackage ??= grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS));
  return healthPackage;
}

function lookup(root: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const part of name.split(".")) node = (node as Record<string, unknown>)[part];
  if (typeof node !== "function") throw new Error(`${name} is not a service in the loaded protos`);
  return node as grpc.ServiceClientConstructor;
}

/** A gRPC status error as grpc-js reports it. */
export interface GrpcError extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

export function isGrpcError(error: unknown): error is GrpcError {
  return error instanceof Error && typeof (error as Partial<GrpcError>).code === "number";
}

// Plain-object messages as proto-loader produces and accepts them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = Record<string, any>;

export interface CallOptions {
  /** Deadline, in milliseconds from now. */
  deadlineMs?: number;
}

export interface RawClient {
  /** Calls a unary method by its proto name (e.g. "CreateJob"); rejects with a GrpcError. */
  call(method: string, request: Message, options?: CallOptions): Promise<Message>;
  /** Opens a server-streaming call by its proto name. */
  stream(method: string, request: Message): grpc.ClientReadableStream<Message>;
  grpc: grpc.Client;
  close(): void;
}

function rawClient(Client: grpc.ServiceClientConstructor, address: string, options: grpc.ChannelOptions): RawClient {
  const client = new Client(address, grpc.credentials.createInsecure(), options);
  const methods = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  const methodFor = (name: string) => {
    const fn = methods[name];
    if (typeof fn !== "function") throw new Error(`unknown method ${name}`);
    return fn.bind(client);
  };
  return {
    call(method, request, options = {}) {
      const callOptions: grpc.CallOptions = {};
      if (options.deadlineMs !== undefined) callOptions.deadline = new Date(Date.now() + options.deadlineMs);
      return new Promise((resolve, reject) => {
        methodFor(method)(request, new grpc.Metadata(), callOptions, (error: grpc.ServiceError | null, response: Message) =>
          error ? reject(error) : resolve(response),
        );
      });
    },
    stream(method, request) {
      return methodFor(method)(request) as grpc.ClientReadableStream<Message>;
    },
    grpc: client,
    close: () => client.close(),
  };
}

/** chime.v1.JobService at `address` ("127.0.0.1:port"). */
export function createJobServiceClient(address: string, options: grpc.ChannelOptions = {}): RawClient {
  return rawClient(lookup(chimeProto(), "chime.v1.JobService"), address, options);
}

/** grpc.health.v1.Health at `address`. */
export function createHealthClient(address: string, options: grpc.ChannelOptions = {}): RawClient {
  return rawClient(lookup(healthProto(), "grpc.health.v1.Health"), address, options);
}

/** Awaits a call expected to fail and returns its status error (fails the test if it succeeds). */
export async function grpcError(promise: Promise<unknown>): Promise<GrpcError> {
  try {
    const response = await promise;
    throw new Error(`expected the call to fail, it returned ${JSON.stringify(response).slice(0, 300)}`);
  } catch (error) {
    if (isGrpcError(error)) return error;
    throw error;
  }
}

/**
 * A JSON-like value as a google.protobuf.Struct in proto-loader's object form. The
 * well-known types come from protobufjs's bundled definitions, whose field names are
 * camelCase even with keepCase.
 */
export function toStruct(object: Record<string, unknown>): Message {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, toValue(v)])) };
}

function toValue(value: unknown): Message {
  if (value === null) return { nullValue: "NULL_VALUE" };
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

/** A google.protobuf.Struct in proto-loader's object form, back as plain JSON. */
export function fromStruct(struct: Message | null | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries((struct?.fields ?? {}) as Record<string, Message>).map(([k, v]) => [k, fromValue(v)]));
}

function fromValue(value: Message): unknown {
  switch (value.kind) {
    case "nullValue":
      return null;
    case "numberValue":
      return value.numberValue;
    case "stringValue":
      return value.stringValue;
    case "boolValue":
      return value.boolValue;
    case "listValue":
      return ((value.listValue.values ?? []) as Message[]).map(fromValue);
    case "structValue":
      return fromStruct(value.structValue);
    default:
      throw new Error(`unexpected Value ${JSON.stringify(value)}`);
  }
}

export function timestamp(date: Date): Message {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function fromTimestamp(ts: Message | null | undefined): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(Number(ts.nanos ?? 0) / 1_000_000));
}

export function duration(ms: number): Message {
  const seconds = Math.trunc(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
