import { Code, ConnectError } from "@connectrpc/connect";

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

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
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
