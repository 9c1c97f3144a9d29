/** What a group commit stores with, and how much at once. */
export interface GroupCommitOptions<Item, Result> {
  /** Stores items in one transaction, resolving to one result per item in their order; a rejection fails them all. */
  store(items: Item[]): Promise<Result[]>;
  /** Most items stored together. */
  maxBatch: number;
  /** Batches stored at once (each holds a database connection while it runs). */
  slots: number;
  /** Told the size of each batch as it starts (an item stored alone after a split is a batch of one). */
  onBatch?(size: number): void;
  /** Told that a batch of several failed and that its items are being stored one by one. */
  onSplit?(error: unknown, size: number): void;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/**
 * Natural group commit (docs/storage.md, "Group commit"): whatever waits when a slot is free is
 * stored together, in the order it arrived, and while one batch commits the next one gathers. Each
 * item's promise settles only once its own batch has. A batch that fails is stored again item by
 * item, each alone, so one bad item fails alone and its neighbours are stored as if it had never
 * been there.
 */
export function createGroupCommit<Item, Result>(options: GroupCommitOptions<Item, Result>) {
  const waiting: Waiting<Item, Result>[] = [];
  let running = 0;

  async function commit(batch: Waiting<Item, Result>[]): Promise<void> {
    options.onBatch?.(batch.length);
    try {
      const results = await options.store(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index]!));
      return;
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      options.onSplit?.(error, batch.length);
    }
    for (const entry of batch) {
      options.onBatch?.(1);
      await options.store([entry.item]).then(([result]) => entry.resolve(result!), entry.reject);
    }
  }

  function next(): void {
    while (running < options.slots && waiting.length > 0) {
      running += 1;
      void commit(waiting.splice(0, options.maxBatch)).finally(() => {
        running -= 1;
        next();
      });
    }
  }

  return {
    /** Stores `item` with whatever else is waiting; settles once its batch is committed or it failed alone. */
    submit(item: Item): Promise<Result> {
      return new Promise<Result>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        next();
      });
    },
  };
}
