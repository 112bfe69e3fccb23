/** Where the test suite finds Postgres and NATS (scripts/services.sh starts them when missing). */
export const TEST_POSTGRES_URL = process.env.CHIME_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_NATS_URL = process.env.CHIME_TEST_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** Every test database name starts with this, then its creation time in seconds. */
export const TEST_DATABASE_PREFIX = "chime_t";

export function testDatabaseName(suffix: string): string {
  return `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_${suffix}`;
}

export function databaseUrl(name: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
