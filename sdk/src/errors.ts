import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { msOf } from "./plain-values.js";

/** The gRPC code names ("NOT_FOUND", "INVALID_ARGUMENT", ...), derived from connect's Code enum. */
export type ChimeErrorCode = Trim<ScreamingSnake<Exclude<keyof typeof Code, number>>>;

type ScreamingSnake<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Uppercase<Head> : `_${Head}`}${ScreamingSnake<Tail>}`
  : "";
type Trim<S extends string> = S extends `_${infer Rest}` ? Rest : S;

/** One field the server rejected (google.rpc.BadRequest), e.g. { field: "job.queue", description: "required" }. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Named with Symbol.for so `instanceof` holds when two copies of the SDK are loaded. */
const BRAND = Symbol.for("@chime/sdk/ChimeError");

/**
 * What every SDK client call throws: a ConnectError (so existing `instanceof ConnectError`
 * and numeric `code` checks keep working) that also names its code, lists the server's field
 * violations and carries RetryInfo's delay when the server sent one (rate limits do).
 */
export class ChimeError extends ConnectError {
  readonly [BRAND] = true;
  /** The gRPC code name, e.g. "INVALID_ARGUMENT". */
  readonly codeName: ChimeErrorCode;
  readonly fieldViolations: FieldViolation[];
  /** How long the server asks the caller to wait before retrying, in ms; absent when not sent. */
  readonly retryDelayMs: number | undefined;

  constructor(error: ConnectError) {
    // Incoming details (type + bytes) are kept as they came; findDetails decodes both kinds.
    super(error.rawMessage, error.code, error.metadata, error.details as ConstructorParameters<typeof ConnectError>[3], error);
    // name stays "ConnectError": connect's own instanceof check (used by callers and by its
    // retry and watch code) matches a subclass by that name; ChimeError is told by its brand.
    this.codeName = codeNameOf(error.code);
    this.fieldViolations = error.findDetails(BadRequestSchema).flatMap((detail) =>
      detail.fieldViolations.map(({ field, description }) => ({ field, description })),
    );
    const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryDelayMs = msOf(delay);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

/** "InvalidArgument" -> "INVALID_ARGUMENT". */
export function codeNameOf(code: Code): ChimeErrorCode {
  return (Code[code] ?? "Unknown").replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase() as ChimeErrorCode;
}

/** Any thrown value as a ChimeError (ConnectError.from wraps what is not a ConnectError). */
export function toChimeError(error: unknown): ChimeError {
  return error instanceof ChimeError ? error : new ChimeError(ConnectError.from(error));
}

/** A transport whose unary calls and streams (opening and every message) throw ChimeErrors. */
export function withChimeErrors(transport: Transport): Transport {
  return {
    unary: (...args) => transport.unary(...args).catch((error: unknown) => Promise.reject(toChimeError(error))),
    stream: async (...args) => {
      const response = await transport.stream(...args).catch((error: unknown) => Promise.reject(toChimeError(error)));
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } catch (error) {
            throw toChimeError(error);
          }
        })(),
      };
    },
  };
}
