import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from '../helpers/wait-for.ts';

const MAIN = resolve(import.meta.dirname, '../../services/main.ts');
const TSX = import.meta.resolve('tsx');
export const FAULT_ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/faults');

/**
 * One role (`services/main.ts <role>`) as its own `node` process, the way the image runs it, so a
 * signal reaches the process that handles it.
 */
export class RoleProcess {
  private child: ChildProcess | null = null;
  private readonly log: WriteStream;
  /** Exits nobody asked for (a crash): the suite fails on any. */
  readonly crashes: string[] = [];

  constructor(
    /** The suite's name for this run, which names the log: test-artifacts/faults/<run>-<role>.log. */
    run: string,
    readonly role: 'ingress' | 'worker' | 'relay',
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly cwd: string,
    /** Names the log when a run has two processes of one role. */
    readonly label: string = role,
  ) {
    mkdirSync(FAULT_ARTIFACTS, { recursive: true });
    this.log = createWriteStream(join(FAULT_ARTIFACTS, `${run}-${label}.log`), { flags: 'w' });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits until it answers /healthz. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, this.role], {
      cwd: this.cwd,
      // PGAPPNAME names its Postgres connections (postgres.js reads it), so the suite can tell two workers apart there.
      env: { PATH: process.env.PATH, PGAPPNAME: `faults-${this.label}`, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child === child) this.crashes.push(`${this.label} exited by itself (code ${code}, signal ${signal}) at ${new Date().toISOString()}`);
    });
    await waitFor(async () => child.exitCode === null && (await fetch(`${this.url}/healthz`)).ok, 30_000);
  }

  /** Freezes the process with everything it holds (SIGSTOP: connections, transactions, job locks), or thaws it (SIGCONT). */
  freeze(frozen: boolean): void {
    if (!this.child) throw new Error(`${this.label} is not running`);
    this.child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Sends `signal` and waits for the exit: its code and how long it took. */
  async stop(signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> {
    const child = this.child;
    if (!child) throw new Error(`${this.label} is not running`);
    const startedAt = Date.now();
    const exit = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    this.child = null;
    child.kill(signal);
    const code = await exit;
    return { code, ms: Date.now() - startedAt };
  }

  async destroy(): Promise<void> {
    if (this.child) await this.stop('SIGKILL');
    this.log.end();
  }
}
