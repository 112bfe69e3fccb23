/** Where the test suite finds Postgres and NATS (scripts/services.sh starts them when missing). */
export const TEST_POSTGRES_URL = process.env.CHIME_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_NATS_URL = process.env.CHIME_TEST_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
/** Migrated once per test run by the global setup; each test file clones it. */
export const TEMPLATE_DATABASE = "chime_test_template";

export function databaseUrl(name: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
