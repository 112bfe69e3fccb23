import { describe, expect, it } from "vitest";
import { natsLayout } from "./nats-layout.js";

const layout = natsLayout("p");

describe("natsLayout names", () => {
  it.each([
    ["runSubject", layout.runSubject("billing", "emails"), "p.runs.billing.emails"],
    ["queueFilter of a namespace", layout.queueFilter("billing", "emails"), "p.runs.billing.emails"],
    ["queueFilter of every namespace", layout.queueFilter(undefined, "emails"), "p.runs.*.emails"],
    ["queueConsumer of a namespace", layout.queueConsumer("billing", "emails"), "p_runs_emails@billing"],
    ["queueConsumer of every namespace (as before namespaces)", layout.queueConsumer(undefined, "emails"), "p_runs_emails"],
    ["eventSubject of a namespace", layout.eventSubject("billing", "emails"), "p.events.billing.emails"],
    ["eventSubject of every namespace", layout.eventSubject(undefined, "emails"), "p.events.emails"],
  ])("%s", (_what, name, expected) => expect(name).toBe(expected));

  it("never gives two (namespace, queue) pairs one consumer name", () => {
    const pairs: [string | undefined, string][] = [[undefined, "a_b"], ["b", "a"], ["a", "b"], [undefined, "a"], ["a_b", "c"], ["a", "b_c"]];
    expect(new Set(pairs.map(([ns, q]) => layout.queueConsumer(ns, q))).size).toBe(pairs.length);
  });
});

describe("parseQueueFilter", () => {
  it.each([
    ["p.runs.billing.emails", { namespace: "billing", queue: "emails" }],
    ["p.runs.*.emails", { queue: "emails" }],
    ["p.runs.emails", { queue: "emails", legacy: true }],
    ["p.runs.>", undefined],
    ["p.runs.*", undefined],
    ["p.runs.billing.*", undefined],
    ["p.runs.billing.>", undefined],
    ["p.runs.>.emails", undefined],
    ["p.runs.a.b.c", undefined],
    ["q.runs.billing.emails", undefined],
    ["p.events.billing.emails", undefined],
    [undefined, undefined],
  ])("%s", (filter, expected) => expect(layout.parseQueueFilter(filter)).toEqual(expected));

  it("reads back what queueFilter writes", () => {
    expect(layout.parseQueueFilter(layout.queueFilter("ns", "q"))).toEqual({ namespace: "ns", queue: "q" });
    expect(layout.parseQueueFilter(layout.queueFilter(undefined, "q"))).toEqual({ queue: "q" });
  });
});

describe("eventNamespace", () => {
  it.each([
    ["p.events.billing.emails", "billing"],
    ["p.events.emails", undefined],
    // A longer subject claims its first token: it cannot pass for one of every namespace.
    ["p.events.billing.emails.extra", "billing"],
    ["other.events.billing.emails", undefined],
  ])("%s", (subject, expected) => expect(layout.eventNamespace(subject)).toBe(expected));
});
