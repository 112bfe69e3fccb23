import { describe, expect, it } from "vitest";
import { ConnectError, Code } from "@connectrpc/connect";
import { decodeResumeToken, encodeResumeToken } from "./resume-token.js";

describe("resume tokens", () => {
  it("round-trip cursors", () => {
    for (const cursor of [0, 1, 11, 12, 999_999, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      expect(decodeResumeToken(encodeResumeToken(cursor))).toBe(cursor);
    }
  });

  it("reject malformed, altered and foreign tokens with INVALID_ARGUMENT naming the field", () => {
    const good = encodeResumeToken(1234);
    const altered = Buffer.from(Buffer.from(good, "base64url").toString().replace("ya", "yb")).toString("base64url");
    for (const token of ["x", "12", good.slice(0, -2), altered, `${good}=`, "a".repeat(100), Buffer.from("w1.zz.abcdef").toString("base64url")]) {
      let error: unknown;
      try {
        decodeResumeToken(token);
      } catch (e) {
        error = e;
      }
      expect(error, token).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).rawMessage).toMatch(/^resume_token: /);
    }
  });
});
