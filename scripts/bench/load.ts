import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CallPlayPlan, CallPlayReport } from './call-player.ts';
import type { CannonPlan, CannonReport } from './cannon.ts';
import type { LoadPlan, LoadReport } from './load-generator.ts';

/** Runs one of the bench's load children (`./<file>`) on a plan and returns its report. */
function inChild<Plan, Report>(file: string, plan: Plan): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (report: Report) => resolve(report));
    child.once('error', reject);
    child.once('exit', (code) => code !== 0 && reject(new Error(`${file} exited with ${code}`)));
    child.send(plan as object);
  });
}

/** Paced or closed-loop load with each request's send time and latency (load-generator.ts). */
export const generateLoad = (plan: LoadPlan) => inChild<LoadPlan, LoadReport>('./load-generator.ts', plan);

/** As many requests a second as the server takes, measured by autocannon (cannon.ts). */
export const fireCannon = (plan: CannonPlan) => inChild<CannonPlan, CannonReport>('./cannon.ts', plan);

/** Plays calls at speaking pace, split over `processes` players (call-player.ts); reports in plan order. */
export async function playCalls(plan: CallPlayPlan, processes: number): Promise<CallPlayReport[]> {
  const shares = Array.from({ length: processes }, (_, p) => plan.calls.filter((_, i) => i % processes === p));
  const reports = await Promise.all(shares.map((calls) => inChild<CallPlayPlan, CallPlayReport[]>('./call-player.ts', { ...plan, calls })));
  return plan.calls.map((_, i) => reports[i % processes]![Math.floor(i / processes)]!);
}
