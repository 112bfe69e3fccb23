/**
 * Calls `work` on each item with at most `limit` calls out at once, so a page with many
 * jobs or queues does not open a burst of requests. Rejects with the first failure.
 */
export async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
