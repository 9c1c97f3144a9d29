import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** A segment is sealed (and a new one started) once it holds this much, so a drain reads bounded files. */
const SEGMENT_MAX_BYTES = 8 * 1024 * 1024;
/** Spooled events handed to the queue at once by a drain. */
const DRAIN_CHUNK = 64;
const SEGMENT_NAME = /^(\d{12})\.jsonl$/;

/** The spool has no room left, or could not be written: the event is not durable. */
export class SpoolError extends Error {}

interface Segment {
  path: string;
  /** Entries in the file not yet handed to the queue. */
  entries: number;
  bytes: number;
  /** When the oldest entry still in the file was spooled (epoch ms). */
  firstAt: number;
  /** Lines of the file already handed to the queue by a drain that stopped half-way. */
  drainedLines: number;
}

interface Append {
  line: string;
  at: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** What a drain does with each spooled job, oldest first; a rejection stops the drain. */
export type SpoolConsumer<T> = (job: T) => Promise<unknown>;

/** Told of a line that cannot be read back (a write torn by a crash, never acknowledged, or a damaged file). */
export type UnreadableLine = (where: { path: string; line: number }, error: unknown) => void;

/**
 * An append-only local file of events that Redis did not take in time (docs/reliability.md), so the
 * ingress can still answer 200 for them. `append` resolves only once the event's bytes are fsync'd;
 * appends that arrive together are written and synced together. `drain` hands the spooled jobs to
 * the queue in the order they came and deletes each segment file once all of it is queued. A crash
 * between queueing and deleting queues some again on the next start: the event id (job id and seen
 * marker) makes those duplicates, not second events.
 *
 * One process owns a spool directory: two ingress processes must not share one.
 */
export class Spool<T> {
  private readonly sealed: Segment[] = [];
  private active: { segment: Segment; file: FileHandle } | null = null;
  private batch: Append[] = [];
  private writing: Promise<void> | null = null;
  private draining: Promise<number> | null = null;
  private probing: Promise<void> | null = null;
  /** Bytes appended but not yet written, counted against the limit. */
  private reserved = 0;
  /** Appends in the write under way. */
  private inFlight = 0;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly parse: (value: unknown) => T,
    private nextNumber: number,
  ) {}

  /** Opens (creating) the directory and takes over the segments an earlier process left there. */
  static async open<T>(dir: string, maxBytes: number, parse: (value: unknown) => T): Promise<Spool<T>> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const numbers = (await readdir(dir))
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const spool = new Spool(dir, maxBytes, parse, (numbers.at(-1) ?? 0) + 1);
    for (const n of numbers) {
      const path = spool.pathOf(n);
      const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
      const firstAt = lines.length > 0 ? Number(safeJson(lines[0]!)?.at ?? Date.now()) : Date.now();
      const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
      spool.sealed.push({ path, entries: lines.length, bytes, firstAt, drainedLines: 0 });
    }
    return spool;
  }

  /** Events spooled (or being written) and not yet handed to the queue. */
  get pending(): number {
    return this.sealed.reduce((sum, s) => sum + s.entries, this.active?.segment.entries ?? 0) + this.batch.length + this.inFlight;
  }

  /** Bytes on disk (and being written) not yet drained. */
  get bytes(): number {
    return this.sealed.reduce((sum, s) => sum + s.bytes, this.active?.segment.bytes ?? 0) + this.reserved;
  }

  /** Seconds since the oldest event still spooled came, 0 when the spool is empty. */
  ageSeconds(now = Date.now()): number {
    const oldest = this.sealed[0] ?? this.active?.segment;
    return oldest && oldest.entries > 0 ? Math.max(0, (now - oldest.firstAt) / 1000) : 0;
  }

  /** Whether another event of `bytes` fits under the limit. */
  hasRoom(bytes = 0): boolean {
    return this.bytes + bytes <= this.maxBytes;
  }

  /**
   * Resolves when the spool's directory takes a new file, written and synced (what a new segment
   * needs), rejects with a SpoolError when it does not: a directory gone or unwritable, a full disk.
   * One probe at a time; callers arriving meanwhile share it.
   */
  probe(): Promise<void> {
    this.probing ??= this.writeProbe().finally(() => {
      this.probing = null;
    });
    return this.probing;
  }

  /** Appends `job`; resolves once it is on disk, rejects with a SpoolError when it cannot be. */
  append(job: T): Promise<void> {
    const at = Date.now();
    const line = `${JSON.stringify({ at, job })}\n`;
    const size = Buffer.byteLength(line);
    if (!this.hasRoom(size)) return Promise.reject(new SpoolError(`the spool is full (${this.bytes} of ${this.maxBytes} bytes)`));
    this.reserved += size;
    return new Promise<void>((resolve, reject) => {
      this.batch.push({ line, at, resolve, reject });
      this.writeSoon();
    });
  }

  /**
   * Hands every spooled job to `consume`, oldest first, until the spool is empty (appends made while
   * it runs included). One drain at a time; a rejection of `consume` stops it and is thrown, and the
   * next drain goes on from the first job not handed over. Returns how many were handed over.
   */
  drain(consume: SpoolConsumer<T>, onUnreadable: UnreadableLine): Promise<number> {
    this.draining ??= this.drainAll(consume, onUnreadable).finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /** Waits for writes and a drain in progress, then closes the file; what is spooled stays for the next start. */
  async close(): Promise<void> {
    await this.draining?.catch(() => {});
    while (this.writing) await this.writing;
    await this.active?.file.close();
    this.active = null;
  }

  private async writeProbe(): Promise<void> {
    const path = join(this.dir, '.probe');
    try {
      const file = await open(path, 'w', 0o600);
      try {
        await file.write('probe\n');
        await file.datasync();
      } finally {
        await file.close();
      }
      await unlink(path);
    } catch (error) {
      throw new SpoolError(`the spool cannot be written: ${(error as Error).message}`);
    }
  }

  private pathOf(n: number): string {
    return join(this.dir, `${String(n).padStart(12, '0')}.jsonl`);
  }

  private writeSoon(): void {
    this.writing ??= this.writeBatch().finally(() => {
      this.writing = null;
      if (this.batch.length > 0) this.writeSoon();
    });
  }

  /** Group commit: everything appended since the last write, in one write and one fsync. */
  private async writeBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.inFlight = batch.length;
    const data = Buffer.from(batch.map((a) => a.line).join(''));
    try {
      const { segment, file } = this.active ?? (await this.startSegment());
      await file.appendFile(data);
      await file.datasync();
      if (segment.entries === 0) segment.firstAt = batch[0]!.at;
      segment.entries += batch.length;
      segment.bytes += data.length;
      for (const append of batch) append.resolve();
      if (segment.bytes >= SEGMENT_MAX_BYTES) await this.sealActive();
    } catch (error) {
      const failure = new SpoolError(`the spool could not be written: ${(error as Error).message}`);
      for (const append of batch) append.reject(failure);
    } finally {
      this.reserved -= data.length;
      this.inFlight = 0;
    }
  }

  private async startSegment(): Promise<{ segment: Segment; file: FileHandle }> {
    const path = this.pathOf(this.nextNumber++);
    const file = await open(path, 'a', 0o600);
    // The new file's name must survive a power cut as much as its contents.
    const dir = await open(this.dir, 'r');
    await dir.sync().finally(() => dir.close());
    this.active = { segment: { path, entries: 0, bytes: 0, firstAt: Date.now(), drainedLines: 0 }, file };
    return this.active;
  }

  /** Moves the active segment to the sealed list; the next append starts a new one. Never while writing. */
  private async sealActive(): Promise<void> {
    const active = this.active;
    this.active = null;
    if (!active) return;
    await active.file.close();
    if (active.segment.entries > 0) this.sealed.push(active.segment);
    else await unlink(active.segment.path);
  }

  /** The next readable entries of `segment` from its drain position, advancing it past them. */
  private readChunk(segment: Segment, lines: string[], onUnreadable: UnreadableLine): { at: number; job: T; size: number }[] {
    const chunk: { at: number; job: T; size: number }[] = [];
    while (chunk.length < DRAIN_CHUNK && segment.drainedLines < lines.length) {
      const i = segment.drainedLines++;
      const line = lines[i]!;
      if (!line) continue;
      try {
        const { at, job } = JSON.parse(line) as { at: unknown; job: unknown };
        chunk.push({ at: Number(at), job: this.parse(job), size: Buffer.byteLength(line) + 1 });
      } catch (error) {
        onUnreadable({ path: segment.path, line: i + 1 }, error);
        segment.entries = Math.max(0, segment.entries - 1);
      }
    }
    return chunk;
  }

  private async drainAll(consume: SpoolConsumer<T>, onUnreadable: UnreadableLine): Promise<number> {
    let handed = 0;
    for (;;) {
      if (this.sealed.length === 0) {
        while (this.writing) await this.writing;
        // Nothing is writing now, and nothing runs between this check and the seal's first step.
        if (!this.active || this.active.segment.entries === 0) return handed;
        await this.sealActive();
        continue;
      }
      const segment = this.sealed[0]!;
      const lines = (await readFile(segment.path, 'utf8')).split('\n');
      while (segment.drainedLines < lines.length) {
        const from = segment.drainedLines;
        const chunk = this.readChunk(segment, lines, onUnreadable);
        try {
          // Issued together on one connection, so Redis takes them in this order.
          await Promise.all(chunk.map((entry) => consume(entry.job)));
        } catch (error) {
          segment.drainedLines = from;
          throw error;
        }
        handed += chunk.length;
        segment.entries = Math.max(0, segment.entries - chunk.length);
        segment.bytes = Math.max(0, segment.bytes - chunk.reduce((sum, entry) => sum + entry.size, 0));
        if (chunk.length > 0) segment.firstAt = chunk.at(-1)!.at;
      }
      await unlink(segment.path);
      this.sealed.shift();
    }
  }
}

function safeJson(line: string): { at?: unknown } | null {
  try {
    return JSON.parse(line) as { at?: unknown };
  } catch {
    return null;
  }
}
