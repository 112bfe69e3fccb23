import { describe, expect, it } from "vitest";
import { corsDecision, parseCorsOrigins, SAME_ORIGIN_ONLY } from "./cors.js";

describe("parseCorsOrigins", () => {
  it.each([
    ["", SAME_ORIGIN_ONLY],
    ["*", { any: true }],
    [" https://app.example.com , http://localhost:5173 ", { any: false, origins: new Set(["https://app.example.com", "http://localhost:5173"]) }],
    ["https://app.example.com/", { any: false, origins: new Set(["https://app.example.com"]) }],
  ])("reads %j", (raw, expected) => {
    expect(parseCorsOrigins(raw)).toEqual(expected);
  });

  it.each(["app.example.com", "https://app.example.com/path", "ftp://files.example.com", "*,https://a.example", "https://a.example?x=1"])(
    "refuses %j, naming it",
    (raw) => {
      expect(() => parseCorsOrigins(raw)).toThrow(/is not an origin/);
    },
  );
});

describe("corsDecision", () => {
  const listed = parseCorsOrigins("https://app.example.com");
  it.each([
    ["no Origin header", listed, undefined, "chime:8081", false, "same-origin"],
    ["the server's own origin", SAME_ORIGIN_ONLY, "http://chime:8081", "chime:8081", false, "same-origin"],
    ["its own host over TLS", SAME_ORIGIN_ONLY, "https://chime:8081", "chime:8081", true, "same-origin"],
    ["its own host with the other scheme", SAME_ORIGIN_ONLY, "http://chime:8081", "chime:8081", true, "refused"],
    ["a listed origin", listed, "https://app.example.com", "chime:8081", false, "allowed"],
    ["an unlisted origin", listed, "https://evil.example", "chime:8081", false, "refused"],
    ["any origin with *", { any: true } as const, "https://evil.example", "chime:8081", false, "allowed"],
    ["the opaque origin of a sandboxed page", listed, "null", "chime:8081", false, "refused"],
  ])("%s", (_, policy, origin, host, secure, expected) => {
    expect(corsDecision(policy, origin, host, secure)).toBe(expected);
  });
});
