#!/usr/bin/env node
// The `chime` command: parses the command line, runs the command, and ends with the exit
// status of its outcome's class (exit-codes.ts) so scripts can branch on it.
import { describeFailure } from "./exit-codes.js";
import { createProgram } from "./program.js";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  const { exitCode, message } = describeFailure(error);
  if (message) process.stderr.write(`chime: ${message}\n`);
  process.exitCode = exitCode;
}
