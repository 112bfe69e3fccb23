import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

// @chime/sdk as a user gets it: packed with `npm pack`, installed into a project outside the
// workspace (so nothing resolves to the workspace's sources or node_modules), and used there
// by plain JavaScript and by TypeScript under strict consumer settings.
const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/sdk-consumer/", import.meta.url));
const tsc = join(root, "node_modules/typescript/bin/tsc");

const STRICT = { strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false };
const TSCONFIGS = {
  nodenext: { module: "NodeNext", moduleResolution: "NodeNext" },
  bundler: { module: "ESNext", moduleResolution: "bundler" },
} as const;

let server: TestServer;
let project: string;

beforeAll(async () => {
  server = await startTestServer();
  project = await mkdtemp(join(tmpdir(), "chime-sdk-consumer-"));
  // global setup compiled sdk/dist; npm pack runs the SDK's prepack (LICENSE) and packs dist/.
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", project], { cwd: join(root, "sdk") });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!packed) throw new Error("npm pack: no tarball reported");
  expect(packed.files.map((f) => f.path)).toEqual(expect.arrayContaining(["LICENSE", "README.md", "dist/index.js", "dist/index.d.ts", "dist/web.js"]));
  expect(packed.files.some((f) => f.path.startsWith("src/") || f.path.endsWith(".test.js"))).toBe(false);
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { "@chime/sdk": `file:./${packed.filename}`, "@types/node": "*" } }),
  );
  // From the npm cache where it can; peer dependencies (protobuf, connect) come in on their own.
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project });
  for (const file of await readdir(fixtures)) await copyFile(join(fixtures, file), join(project, file));
}, 240_000);

afterAll(async () => {
  await server?.close();
  if (project) await rm(project, { recursive: true, force: true });
});

async function runConsumer(script: string, queue: string): Promise<unknown> {
  const env = { ...process.env, CHIME_SERVER: server.grpcUrl, NATS_URL: TEST_NATS_URL, CHIME_NATS_PREFIX: server.config.natsPrefix, CONSUMER_QUEUE: queue };
  const { stdout } = await run(process.execPath, [script], { cwd: project, env, timeout: 60_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
}

describe("@chime/sdk installed from its tarball", () => {
  it("imports in plain Node", async () => {
    const { stdout } = await run(process.execPath, ["-e", 'import("@chime/sdk").then((m) => console.log(typeof m.createChimeClient, typeof m.Worker))'], { cwd: project });
    expect(stdout.trim()).toBe("function function");
  });

  it("has a web entry whose module graph imports nothing of Node, connect-node or NATS", async () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = await readFile(file, "utf8");
      for (const [, specifier] of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/g)) {
        if (specifier!.startsWith(".")) await visit(resolve(dirname(file), specifier!));
        else bare.add(specifier!);
      }
    };
    await visit(join(project, "node_modules/@chime/sdk/dist/web.js"));
    expect(seen.size).toBeGreaterThan(3);
    expect([...bare].filter((name) => /^(node:|@connectrpc\/connect-node|@nats-io\/)/.test(name))).toEqual([]);
  });

  it("runs a client and a Worker from an .mjs script", async () => {
    expect(await runConsumer("consumer.mjs", "mjs")).toEqual({ ok: true, output: { echoed: { from: "mjs" } } });
  });

  for (const [resolution, options] of Object.entries(TSCONFIGS)) {
    it(`compiles a strict TypeScript consumer with ${resolution} resolution and runs it`, async () => {
      const outDir = `out-${resolution}`;
      await writeFile(
        join(project, `tsconfig.${resolution}.json`),
        JSON.stringify({ compilerOptions: { ...STRICT, ...options, target: "ES2023", types: ["node"], outDir }, files: ["consumer.ts"] }),
      );
      // skipLibCheck is off so the SDK's own .d.ts are checked under these settings too; the
      // NATS client's .d.ts fail exactOptionalPropertyTypes on their own (not ours to mend), and
      // tsc still emits, so only errors outside @nats-io count.
      const output = await run(process.execPath, [tsc, "-p", `tsconfig.${resolution}.json`], { cwd: project }).then(
        ({ stdout }) => stdout,
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
      const ours = output.split("\n").filter((line) => /error TS/.test(line) && !line.startsWith("node_modules/@nats-io/"));
      expect(ours, `tsc (${resolution})`).toEqual([]);
      expect(await runConsumer(join(outDir, "consumer.js"), `ts-${resolution}`)).toEqual({ ok: true, output: { echoed: { from: "ts" } }, violation: "job.queue", created: true });
    });
  }
});
