import cronstrue from "cronstrue";

/**
 * A cron expression in words ("every 5 seconds", "at 09:30, Monday through Friday"), or
 * undefined where cronstrue cannot read it. Five fields or six with seconds first, as the
 * server's parser takes them; times in 24-hour form.
 */
export function cronInWords(expression: string): string | undefined {
  try {
    const words = cronstrue.toString(expression, { use24HourTimeFormat: true, throwExceptionOnParseError: true });
    return words.charAt(0).toLowerCase() + words.slice(1);
  } catch {
    return undefined;
  }
}
