import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { appendFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool, SpoolError } from '../../services/ingress/lib/spool.ts';

const dirs: string[] = [];
const freshDir = () => {
  const dir = join(tmpdir(), `spool-test-${randomUUID().slice(0, 8)}`);
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const asNumber = (value: unknown) => {
  if (typeof value !== 'number') throw new Error('not a number');
  return value;
};
const MiB = 1024 * 1024;

/** Drains everything into an array, oldest first. */
async function drainAll(spool: Spool<number>, unreadable: unknown[] = []) {
  const out: number[] = [];
  await spool.drain(
    async (n) => {
      out.push(n);
    },
    (where) => unreadable.push(where),
  );
  return out;
}

describe('the spool', () => {
  it('hands back what was appended, in order, after a restart, and leaves no file behind', async () => {
    const dir = freshDir();
    const first = await Spool.open(dir, MiB, asNumber);
    await Promise.all(Array.from({ length: 500 }, (_, i) => first.append(i)));
    expect(first.pending).toBe(500);
    await first.close();

    const second = await Spool.open(dir, MiB, asNumber);
    expect(second.pending).toBe(500);
    expect(second.ageSeconds()).toBeGreaterThanOrEqual(0);
    expect(await drainAll(second)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(second.pending).toBe(0);
    expect(second.bytes).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes appends made while a drain runs, and drains them too', async () => {
    const spool = await Spool.open(freshDir(), MiB, asNumber);
    await spool.append(0);
    const out: number[] = [];
    await spool.drain(
      async (n) => {
        out.push(n);
        if (n < 5) void spool.append(n + 1);
        await sleep(5);
      },
      () => {},
    );
    expect(out).toEqual([0, 1, 2, 3, 4, 5]);
    expect(spool.pending).toBe(0);
  });

  it('skips a line torn by a crash (never acknowledged) and reports where', async () => {
    const dir = freshDir();
    const first = await Spool.open(dir, MiB, asNumber);
    await first.append(1);
    await first.append(2);
    await first.close();
    const [segment] = await readdir(dir);
    await appendFile(join(dir, segment!), '{"at":17,"job":');

    const unreadable: unknown[] = [];
    const second = await Spool.open(dir, MiB, asNumber);
    expect(await drainAll(second, unreadable)).toEqual([1, 2]);
    expect(unreadable).toEqual([{ path: join(dir, segment!), line: 3 }]);
  });

  it('stops a drain at the first job the queue refuses, and goes on from there next time', async () => {
    const spool = await Spool.open(freshDir(), MiB, asNumber);
    await Promise.all([1, 2, 3].map((n) => spool.append(n)));
    let refuse = true;
    const out: number[] = [];
    const consume = async (n: number) => {
      if (n === 2 && refuse) throw new Error('Redis is gone');
      out.push(n);
    };
    await expect(spool.drain(consume, () => {})).rejects.toThrow('Redis is gone');
    expect(spool.pending).toBe(3);
    refuse = false;
    await spool.drain(consume, () => {});
    // The chunk that failed is handed over again: the queue's dedup makes a repeat harmless.
    expect(out.slice(-3)).toEqual([1, 2, 3]);
    expect(spool.pending).toBe(0);
  });

  it('refuses an append that would pass its size limit, with a SpoolError', async () => {
    const spool = await Spool.open(freshDir(), MiB, (value) => String(value));
    await expect(spool.append('x'.repeat(MiB))).rejects.toBeInstanceOf(SpoolError);
    expect(spool.pending).toBe(0);
    await spool.append('small');
    expect(spool.pending).toBe(1);
  });

  it('refuses appends with a SpoolError when its file cannot be written', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, MiB, asNumber);
    await rm(dir, { recursive: true });
    await expect(spool.append(1)).rejects.toBeInstanceOf(SpoolError);
  });
});
