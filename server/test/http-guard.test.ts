import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, request } from "undici";
import {
  addressRefusal,
  createGuardedConnector,
  EMPTY_ALLOWLIST,
  parseAllowlist,
  RefusedDestinationError,
  type Allowlist,
} from "../src/executor/http-guard.js";
import { startHttpTarget, type HttpTarget } from "./helpers/worker-http-target.js";

describe("addressRefusal", () => {
  const refused = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "::ffff:127.0.0.1",
    "[::ffff:127.0.0.1]",
    "::ffff:7f00:1",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
  ];
  it.each(refused)("refuses %s", (address) => {
    expect(addressRefusal(address)).toMatch(/not public unicast|not an IP/);
  });
  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111"])("allows public %s", (address) => {
    expect(addressRefusal(address)).toBeUndefined();
  });
  it("allows what an allowlisted CIDR holds, and only that", () => {
    const allow = parseAllowlist("127.0.0.1/32, 10.1.0.0/16");
    expect(addressRefusal("127.0.0.1", allow)).toBeUndefined();
    expect(addressRefusal("::ffff:127.0.0.1", allow)).toBeUndefined();
    expect(addressRefusal("10.1.200.3", allow)).toBeUndefined();
    expect(addressRefusal("127.0.0.2", allow)).toBeDefined();
    expect(addressRefusal("10.2.0.1", allow)).toBeDefined();
    expect(addressRefusal("::1", allow)).toBeDefined();
  });
});

describe("parseAllowlist", () => {
  it("reads CIDRs, addresses and host names", () => {
    const allow = parseAllowlist(" 10.0.0.0/8 ,::1, Billing.Internal ,localhost");
    expect(allow.cidrs.map(([a, bits]) => `${a.toString()}/${bits}`)).toEqual(["10.0.0.0/8", "::1/128"]);
    expect([...allow.hosts]).toEqual(["billing.internal", "localhost"]);
    expect(parseAllowlist("").cidrs).toEqual([]);
  });
  it("names every bad entry", () => {
    expect(() => parseAllowlist("10.0.0.0/99, ok.host, bad host, http://x")).toThrow(/"10.0.0.0\/99", "bad host", "http:\/\/x"/);
  });
});

describe("guarded connector", () => {
  let target: HttpTarget;
  let port: number;
  const hits = () => target.requests.length;
  beforeAll(async () => {
    target = await startHttpTarget();
    port = target.port;
  });
  afterAll(async () => target?.close());

  const get = async (url: string, allowlist: Allowlist) => {
    const agent = new Agent({ connect: createGuardedConnector(allowlist) });
    try {
      const response = await request(url, { dispatcher: agent });
      return await response.body.text();
    } finally {
      await agent.close();
    }
  };
  const hosts = ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0x7f000001", "2130706433", "127.1", "localhost"];

  it.each(hosts)("refuses http://%s before sending anything", async (host) => {
    const before = hits();
    const error = await get(`http://${host}:${port}/ok`, EMPTY_ALLOWLIST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefusedDestinationError);
    expect((error as RefusedDestinationError).retryable).toBe(false);
    expect(hits()).toBe(before);
  });

  it("reaches an allowlisted address or host name", async () => {
    expect(await get(`http://127.0.0.1:${port}/status/200`, parseAllowlist("127.0.0.1/32"))).toBe("status 200");
    expect(await get(`http://localhost:${port}/status/200`, parseAllowlist("localhost"))).toBe("status 200");
    // The name is allowlisted, not the address: the literal is still refused.
    await expect(get(`http://127.0.0.1:${port}/`, parseAllowlist("localhost"))).rejects.toBeInstanceOf(RefusedDestinationError);
  });
});
