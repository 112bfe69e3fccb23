import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { errorFromJson, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag } from "@connectrpc/connect/protocol-grpc-web";
import type { JsonValue } from "@bufbuild/protobuf";

/**
 * Requests sent as bytes, past every client library's encoder, so a test can send what no
 * generated client would (garbage, bad varints, unknown JSON keys), on each protocol the
 * server speaks. Each answers with the error the server sent (decoded as connect's clients
 * do, details included), or undefined when the call succeeded.
 */

export type RawProtocol = "gRPC" | "Connect proto" | "Connect JSON" | "gRPC-Web" | "Connect GET proto" | "Connect GET JSON";
export const RAW_PROTOCOLS: RawProtocol[] = ["gRPC", "Connect proto", "Connect JSON", "gRPC-Web", "Connect GET proto", "Connect GET JSON"];
/** Protocols that send the JSON body; the others send the binary one. */
export const JSON_PROTOCOLS = new Set<RawProtocol>(["Connect JSON", "Connect GET JSON"]);
/** Connect's GET form, for methods without side effects only. */
export const GET_PROTOCOLS = new Set<RawProtocol>(["Connect GET proto", "Connect GET JSON"]);

export interface RawTarget {
  grpcAddress: string;
  httpUrl: string;
}

export interface RawRequest {
  /** e.g. "chime.v1.JobService/ListJobs" */
  path: string;
  streaming: boolean;
  /** The body for binary protocols, and for Connect JSON. */
  binary: Uint8Array;
  json: string;
}

const frame = (flags: number, payload: Uint8Array) => {
  const bytes = new Uint8Array(5 + payload.length);
  bytes[0] = flags;
  new DataView(bytes.buffer).setUint32(1, payload.length);
  bytes.set(payload, 5);
  return bytes;
};

function* frames(body: Uint8Array): Generator<{ flags: number; payload: Uint8Array }> {
  let at = 0;
  while (at + 5 <= body.length) {
    const length = new DataView(body.buffer, body.byteOffset + at, 5).getUint32(1);
    yield { flags: body[at], payload: body.subarray(at + 5, at + 5 + length) };
    at += 5 + length;
  }
}

const identity = (bytes: Buffer) => bytes;

async function grpcCall(target: RawTarget, request: RawRequest): Promise<ConnectError | undefined> {
  const client = new grpc.Client(target.grpcAddress, grpc.credentials.createInsecure());
  try {
    const status = await new Promise<grpc.ServiceError | undefined>((resolve) => {
      const path = `/${request.path}`;
      const deadline = Date.now() + 10_000;
      if (request.streaming) {
        const call = client.makeServerStreamRequest(path, identity, identity, Buffer.from(request.binary), new grpc.Metadata(), { deadline });
        // A stream that was accepted is ended by the test once its first message (or nothing) arrives.
        call.on("data", () => call.cancel());
        call.on("error", (error: grpc.ServiceError) => resolve(error.code === grpc.status.CANCELLED ? undefined : error));
        call.on("end", () => resolve(undefined));
      } else {
        client.makeUnaryRequest(path, identity, identity, Buffer.from(request.binary), { deadline }, (error) => resolve(error ?? undefined));
      }
    });
    if (!status) return undefined;
    const trailer = new Headers({ "grpc-status": String(status.code), "grpc-message": encodeURIComponent(status.details) });
    const details = status.metadata.get("grpc-status-details-bin")[0];
    if (details) trailer.set("grpc-status-details-bin", Buffer.from(details as Buffer).toString("base64"));
    return findTrailerError(trailer);
  } finally {
    client.close();
  }
}

async function connectCall(target: RawTarget, request: RawRequest, json: boolean): Promise<ConnectError | undefined> {
  const payload = json ? new TextEncoder().encode(request.json) : request.binary;
  const contentType = `application/${request.streaming ? "connect+" : ""}${json ? "json" : "proto"}`;
  const response = await fetch(`${target.httpUrl}/${request.path}`, {
    method: "POST",
    headers: { "Content-Type": contentType, "Connect-Protocol-Version": "1", "Connect-Timeout-Ms": "10000" },
    body: request.streaming ? frame(0, payload) : payload,
    signal: AbortSignal.timeout(10_000),
  });
  if (!request.streaming) {
    if (response.ok) return undefined;
    return errorFromJson((await response.json()) as JsonValue, response.headers, new ConnectError(`HTTP ${response.status}`));
  }
  // A stream: its end-stream frame (a healthy stream is cut after its first message).
  const end = await lastFrame(response, endStreamFlag);
  if (!end) return undefined;
  const { error } = JSON.parse(new TextDecoder().decode(end)) as { error?: JsonValue };
  return error ? errorFromJson(error, response.headers, new ConnectError("end-stream error")) : undefined;
}

/** The payload of a response's first frame when it is the closing one (flag set), else undefined. */
async function lastFrame(response: Response, flag: number): Promise<Uint8Array | undefined> {
  const reader = response.body!.getReader();
  let body = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return undefined;
    body = Buffer.concat([body, value]);
    for (const { flags, payload } of frames(body)) {
      if ((flags & flag) === flag) return payload;
      await reader.cancel();
      return undefined;
    }
  }
}

async function grpcWebCall(target: RawTarget, request: RawRequest): Promise<ConnectError | undefined> {
  const response = await fetch(`${target.httpUrl}/${request.path}`, {
    method: "POST",
    headers: { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "Grpc-Timeout": "10S" },
    body: frame(0, request.binary),
    signal: AbortSignal.timeout(10_000),
  });
  // Trailers-only: the status is in the headers.
  if (response.headers.has("grpc-status")) {
    const error = findTrailerError(response.headers);
    await response.body?.cancel();
    return error;
  }
  const payload = await lastFrame(response, trailerFlag);
  if (!payload) return undefined;
  const trailer = new Headers();
  for (const line of new TextDecoder().decode(payload).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) trailer.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return findTrailerError(trailer);
}

async function connectGetCall(target: RawTarget, request: RawRequest, json: boolean): Promise<ConnectError | undefined> {
  const message = json
    ? `encoding=json&message=${encodeURIComponent(request.json)}`
    : `encoding=proto&base64=1&message=${Buffer.from(request.binary).toString("base64url")}`;
  const response = await fetch(`${target.httpUrl}/${request.path}?connect=v1&${message}`, { signal: AbortSignal.timeout(10_000) });
  if (response.ok) return undefined;
  return errorFromJson((await response.json()) as JsonValue, response.headers, new ConnectError(`HTTP ${response.status}`));
}

export function rawCall(target: RawTarget, protocol: RawProtocol, request: RawRequest): Promise<ConnectError | undefined> {
  switch (protocol) {
    case "Connect GET proto":
      return connectGetCall(target, request, false);
    case "Connect GET JSON":
      return connectGetCall(target, request, true);
    case "gRPC":
      return grpcCall(target, request);
    case "Connect proto":
      return connectCall(target, request, false);
    case "Connect JSON":
      return connectCall(target, request, true);
    case "gRPC-Web":
      return grpcWebCall(target, request);
  }
}
