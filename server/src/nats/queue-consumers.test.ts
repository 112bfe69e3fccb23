import { describe, expect, it } from "vitest";
import { queueFigures, type QueueConsumerStats } from "./queue-consumers.js";

const consumer = (queue: string, namespace: string | undefined, waiting: number, inFlight = 0, pullRequests = 0): QueueConsumerStats => ({
  queue,
  ...(namespace === undefined ? {} : { namespace }),
  waiting,
  inFlight,
  pullRequests,
});

const perNamespace = [consumer("q", "a", 5, 1, 2), consumer("q", "b", 7, 0, 0), consumer("other", "a", 100)];
const everyNamespace = [consumer("q", undefined, 3, 2, 1), consumer("other", undefined, 100)];

describe("queueFigures", () => {
  it.each([
    ["a namespace's own consumer", perNamespace, "a", { queue: "q", namespace: "a", waiting: 5, inFlight: 1, pullRequests: 2 }],
    ["another namespace's own consumer", perNamespace, "b", { queue: "q", namespace: "b", waiting: 7, inFlight: 0, pullRequests: 0 }],
    ["no consumer for the namespace", perNamespace, "c", undefined],
    ["the sum over namespaces for the queue", perNamespace, undefined, { queue: "q", waiting: 12, inFlight: 1, pullRequests: 2 }],
    ["a namespace served by the consumer of every namespace", everyNamespace, "a", { queue: "q", namespace: "a", waiting: 3, inFlight: 2, pullRequests: 1 }],
    ["the consumer of every namespace", everyNamespace, undefined, { queue: "q", waiting: 3, inFlight: 2, pullRequests: 1 }],
    ["no consumer at all", [], undefined, undefined],
  ] as const)("%s", (_what, consumers, namespace, expected) => {
    expect(queueFigures([...consumers], "q", namespace)).toEqual(expected);
  });
});
