import { Code, ConnectError } from "@connectrpc/connect";
import { CommanderError } from "commander";

/**
 * The exit status of each class of failure, so scripts can branch on it (README, CLI section).
 * Server errors map by their gRPC code; the CLI's own checks of flag values are invalid
 * arguments like the server's.
 */
export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  invalidArgument: 3,
  notFound: 4,
  unavailable: 5,
  /** Also a TLS handshake that failed (certificate refused, missing or not trusted). */
  denied: 6,
  conflict: 7,
} as const;

/** A flag or argument value the CLI refused before calling the server; the message names it. */
export class ArgumentError extends Error {}

const BY_CODE: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: EXIT.invalidArgument,
  [Code.OutOfRange]: EXIT.invalidArgument,
  [Code.NotFound]: EXIT.notFound,
  [Code.Unavailable]: EXIT.unavailable,
  [Code.DeadlineExceeded]: EXIT.unavailable,
  [Code.Unauthenticated]: EXIT.denied,
  [Code.PermissionDenied]: EXIT.denied,
  [Code.AlreadyExists]: EXIT.conflict,
  [Code.FailedPrecondition]: EXIT.conflict,
  [Code.Aborted]: EXIT.conflict,
};

/**
 * The code of a TLS failure somewhere in an error's cause chain (a refused or missing client
 * certificate, a server certificate not trusted or for another name): connect reports those
 * as INTERNAL or UNAVAILABLE, but for a user they are a matter of credentials.
 */
function tlsFailureCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^ERR_(SSL|TLS)_|CERT|SIGNATURE/.test(code)) return code;
  }
  return undefined;
}

/** The exit status and the one-line message for an error a command threw. */
export function describeFailure(error: unknown): { exitCode: number; message: string } {
  if (error instanceof CommanderError) {
    // Help and --version end through here too, with commander's own code 0.
    return { exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.usage, message: "" };
  }
  if (error instanceof ArgumentError) return { exitCode: EXIT.invalidArgument, message: error.message };
  const tlsCode = tlsFailureCode(error);
  if (tlsCode) return { exitCode: EXIT.denied, message: `TLS: ${tlsCode}: ${error instanceof ConnectError ? error.rawMessage : String(error)}` };
  if (error instanceof ConnectError) {
    return { exitCode: BY_CODE[error.code] ?? EXIT.other, message: `${Code[error.code]}: ${error.rawMessage}` };
  }
  return { exitCode: EXIT.other, message: error instanceof Error ? error.message : String(error) };
}
