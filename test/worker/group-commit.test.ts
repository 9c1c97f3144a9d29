import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../services/worker/lib/group-commit.ts';

/** A store whose batches the test finishes by hand, recording what each batch held. */
function heldStore(fail: (item: number) => boolean = () => false) {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  let open = 0;
  let mostOpen = 0;
  return {
    batches,
    get open() {
      return open;
    },
    get mostOpen() {
      return mostOpen;
    },
    /** Finishes the oldest batch still open. */
    finishOne() {
      pending.shift()?.();
    },
    store(items: number[]): Promise<string[]> {
      batches.push(items);
      open += 1;
      mostOpen = Math.max(mostOpen, open);
      return new Promise((resolve, reject) => {
        pending.push(() => {
          open -= 1;
          if (items.some(fail)) reject(new Error(`refused ${items.filter(fail).join(',')}`));
          else resolve(items.map((item) => `stored ${item}`));
        });
      });
    },
  };
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('stores what waits while a batch commits as the next batch, in arrival order, up to the bound', async () => {
    const held = heldStore();
    const group = createGroupCommit({ store: (items: number[]) => held.store(items), maxBatch: 3, slots: 1 });
    const results = Array.from({ length: 8 }, (_, i) => group.submit(i));
    expect(held.batches).toEqual([[0]]);
    for (let i = 0; i < 4; i++) {
      held.finishOne();
      await settle();
    }
    expect(held.batches).toEqual([[0], [1, 2, 3], [4, 5, 6], [7]]);
    expect(await Promise.all(results)).toEqual(Array.from({ length: 8 }, (_, i) => `stored ${i}`));
  });

  it('runs at most `slots` batches at once', async () => {
    const held = heldStore();
    const group = createGroupCommit({ store: (items: number[]) => held.store(items), maxBatch: 2, slots: 2 });
    const results = Array.from({ length: 9 }, (_, i) => group.submit(i));
    while (held.batches.flat().length < 9 || held.open > 0) {
      held.finishOne();
      await settle();
    }
    expect(held.mostOpen).toBe(2);
    expect(held.batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await Promise.all(results);
  });

  it('settles an item only once its own batch has', async () => {
    const held = heldStore();
    const group = createGroupCommit({ store: (items: number[]) => held.store(items), maxBatch: 10, slots: 1 });
    let settled = false;
    const first = group.submit(1).then(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    held.finishOne();
    await first;
    expect(settled).toBe(true);
  });

  it('stores a failed batch item by item, so only the bad item fails, and says so once', async () => {
    const held = heldStore((item) => item === 3);
    const splits: number[] = [];
    const sizes: number[] = [];
    const group = createGroupCommit({
      store: (items: number[]) => held.store(items),
      maxBatch: 10,
      slots: 1,
      onBatch: (size) => sizes.push(size),
      onSplit: (_error, size) => splits.push(size),
    });
    const gate = group.submit(0);
    const results = [1, 2, 3, 4].map((i) =>
      group.submit(i).then(
        (stored) => stored,
        (error: Error) => error.message,
      ),
    );
    while (held.batches.length < 6 || held.open > 0) {
      held.finishOne();
      await settle();
    }
    await gate;
    expect(await Promise.all(results)).toEqual(['stored 1', 'stored 2', 'refused 3', 'stored 4']);
    expect(held.batches).toEqual([[0], [1, 2, 3, 4], [1], [2], [3], [4]]);
    expect(splits).toEqual([4]);
    expect(sizes).toEqual([1, 4, 1, 1, 1, 1]);
  });

  it('fails an item stored alone with its own error, without storing it again', async () => {
    const held = heldStore(() => true);
    const group = createGroupCommit({ store: (items: number[]) => held.store(items), maxBatch: 10, slots: 1 });
    const result = group.submit(7).catch((error: Error) => error.message);
    held.finishOne();
    expect(await result).toBe('refused 7');
    expect(held.batches).toEqual([[7]]);
  });
});
