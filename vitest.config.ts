import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["server/**/*.test.ts", "sdk/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    globalSetup: ["server/test/global-setup.ts"],
    // Integration tests talk to real Postgres, NATS and server processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
