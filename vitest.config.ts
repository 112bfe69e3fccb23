import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // In-process tests import the workspace packages' TypeScript sources (package.json exports
  // "@chime/source"); the processes they spawn run the compiled dist/ (global setup builds it).
  ssr: { resolve: { conditions: ["@chime/source", ...defaultServerConditions] } },
  test: {
    include: ["server/**/*.test.ts", "sdk/**/*.test.ts", "cli/**/*.test.ts", "examples/**/*.test.ts", "dashboard/src/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    globalSetup: ["server/test/global-setup.ts"],
    // Integration tests talk to real Postgres, NATS and server processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // global.gc, for tests that check memory stays flat (validation.fuzz.test.ts) after full collections.
    execArgv: ["--expose-gc"],
    maxWorkers: 2,
  },
});
