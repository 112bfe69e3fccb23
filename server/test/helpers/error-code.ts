import { ConnectError, type Code } from "@connectrpc/connect";

/** The Connect code a call failed with, or undefined if it succeeded. */
export async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}
