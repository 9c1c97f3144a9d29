import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CallPlayPlan, CallPlayReport, CallPlayStart } from './call-player.ts';
import { now } from './clock.ts';
import type { CannonPlan, CannonReport } from './cannon.ts';
import type { LoadPlan, LoadReport } from './load-generator.ts';

const forkChild = (file: string) =>
  fork(fileURLToPath(new URL(file, import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

/** Resolves with a child's next message; rejects if it fails first. */
function nextMessage<T>(child: ChildProcess, file: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => code !== 0 && reject(new Error(`${file} exited with ${code}`));
    child.once('message', (message: T) => {
      child.off('exit', onExit);
      resolve(message);
    });
    child.once('error', reject);
    child.once('exit', onExit);
  });
}

/** Runs one of the bench's load children (`./<file>`) on a plan and returns its report. */
function inChild<Plan, Report>(file: string, plan: Plan): Promise<Report> {
  const child = forkChild(file);
  const report = nextMessage<Report>(child, file);
  child.send(plan as object);
  return report;
}

/** Paced or closed-loop load with each request's send time and latency (load-generator.ts). */
export const generateLoad = (plan: LoadPlan) => inChild<LoadPlan, LoadReport>('./load-generator.ts', plan);

/** As many requests a second as the server takes, measured by autocannon (cannon.ts). */
export const fireCannon = (plan: CannonPlan) => inChild<CannonPlan, CannonReport>('./cannon.ts', plan);

/**
 * Plays calls at speaking pace, split over `processes` players (call-player.ts), all starting
 * `leadMs` after the last of them is ready; reports in plan order.
 */
export async function playCalls(plan: CallPlayPlan, processes: number, leadMs: number): Promise<CallPlayReport[]> {
  const FILE = './call-player.ts';
  const players = Array.from({ length: processes }, (_, p) => {
    const child = forkChild(FILE);
    const ready = nextMessage<'ready'>(child, FILE);
    child.send({ ...plan, calls: plan.calls.filter((_, i) => i % processes === p) });
    return { child, ready };
  });
  await Promise.all(players.map(({ ready }) => ready));
  const start: CallPlayStart = { startAt: now() + leadMs };
  const reports = await Promise.all(
    players.map(({ child }) => {
      const report = nextMessage<CallPlayReport[]>(child, FILE);
      child.send(start);
      return report;
    }),
  );
  return plan.calls.map((_, i) => reports[i % processes]![Math.floor(i / processes)]!);
}
