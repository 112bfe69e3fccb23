import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decodePageToken, encodePageToken, pageSize } from "./page-token.js";

function invalid(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    return (error as ConnectError).rawMessage;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

const filters = { namespace: "default", state: 0, queue: "emails", namePrefix: "", labelSelector: "env=prod" };

describe("page tokens", () => {
  it("round-trip the key with the same filters", () => {
    const token = encodePageToken(["01a209b5-79ee-75b6-b90a-cd06826efe0c"], filters);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, { ...filters })).toEqual(["01a209b5-79ee-75b6-b90a-cd06826efe0c"]);
    expect(decodePageToken(encodePageToken([1767225600000, "id"], {}), {})).toEqual([1767225600000, "id"]);
  });

  it("round-trip any JSON key", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean())), fc.dictionary(fc.string(), fc.string()), (key, f) => {
        expect(decodePageToken(encodePageToken(key, f), f)).toEqual(key);
      }),
      { numRuns: 300 },
    );
  });

  it("mean the first page when empty", () => {
    expect(decodePageToken("", filters)).toBeUndefined();
  });

  it("are refused with other filters", () => {
    const token = encodePageToken(["x"], filters);
    expect(invalid(() => decodePageToken(token, { ...filters, queue: "other" }))).toBe(
      "page_token: was issued for other filters; send the same filters as the first page",
    );
  });

  it("are refused when not issued by the server", () => {
    const forged = [
      "garbage",
      "!!!",
      Buffer.from("null").toString("base64url"),
      Buffer.from("[]").toString("base64url"),
      Buffer.from('{"k":"x","f":"abc"}').toString("base64url"),
      Buffer.from('{"k":[1]}').toString("base64url"),
      Buffer.from('{"k":[1],"f":7}').toString("base64url"),
    ];
    for (const token of forged) expect(invalid(() => decodePageToken(token, filters)), token).toMatch(/^page_token: /);
  });
});

describe("pageSize", () => {
  it("defaults 0, caps large sizes and refuses negative ones", () => {
    expect(pageSize(0)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(1)).toBe(1);
    expect(pageSize(MAX_PAGE_SIZE)).toBe(MAX_PAGE_SIZE);
    expect(invalid(() => pageSize(MAX_PAGE_SIZE + 1))).toBe("page_size: must be at most 1000");
    expect(invalid(() => pageSize(2 ** 31 - 1))).toBe("page_size: must be at most 1000");
    expect(invalid(() => pageSize(-1))).toBe("page_size: must not be negative");
  });
});
