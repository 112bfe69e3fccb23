import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@chime/sdk";

/** Collects every problem with a request, each naming the field it is about. */
export class FieldViolations {
  private readonly problems: string[] = [];

  add(field: string, problem: string): void {
    this.problems.push(`${field}: ${problem}`);
  }

  get empty(): boolean {
    return this.problems.length === 0;
  }

  /** Throws one INVALID_ARGUMENT listing every problem, when there is any. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw invalidArgument(this.problems.join("; "));
  }
}

/** A field path at the start of a problem: `job.schedule.cron.expression: ...`, `jobs[2].job.name: ...`. */
const FIELD_PROBLEM = /^([A-Za-z_][\w.]*(?:\[[^\]]*\][\w.]*)*): (.*)$/s;

/**
 * INVALID_ARGUMENT for "field: problem" messages ("; "-separated when there are several),
 * with a google.rpc.BadRequest detail holding one field violation per problem, so a client
 * can show each beside its field without parsing the message.
 */
export function invalidArgument(message: string): ConnectError {
  const fieldViolations: { field: string; description: string }[] = [];
  for (const problem of message.split("; ")) {
    const match = FIELD_PROBLEM.exec(problem);
    const previous = fieldViolations[fieldViolations.length - 1];
    // A part naming no field after one that did is that problem's own "; " (a library's text).
    if (!match && previous?.field) previous.description += `; ${problem}`;
    else fieldViolations.push(match ? { field: match[1], description: match[2] } : { field: "", description: problem });
  }
  return new ConnectError(message, Code.InvalidArgument, undefined, [{ desc: BadRequestSchema, value: { fieldViolations } }]);
}

export function notFound(what: string, id: string): ConnectError {
  return new ConnectError(`${what} ${JSON.stringify(id)} not found`, Code.NotFound);
}

export function failedPrecondition(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}

export function alreadyExists(message: string): ConnectError {
  return new ConnectError(message, Code.AlreadyExists);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value is a well-formed id (a UUID). */
export function isId(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/** Checks an id argument; a malformed id is INVALID_ARGUMENT, a well-formed unknown one NOT_FOUND later. */
export function requireId(field: string, value: string): string {
  if (!value) throw invalidArgument(`${field}: is required`);
  if (!UUID_PATTERN.test(value)) throw invalidArgument(`${field}: ${JSON.stringify(value.slice(0, 64))} is not a valid id`);
  return value.toLowerCase();
}
