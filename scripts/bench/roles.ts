import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { RelayEvent } from '#shared/relay';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';
import { signRelayToken } from '#shared/relay-token';
import { now } from './clock.ts';

const MAIN = fileURLToPath(new URL('../../services/main.ts', import.meta.url));

interface RoleProcess {
  child: ChildProcess;
  url: string;
}

/** Starts one role as its own process (`services/main.ts <role>`) and resolves with its URL once it says it is ready. */
function startRole(role: string, env: Record<string, string>): Promise<RoleProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, role], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = new RegExp(`${role} ready on (http://[^\\s"]+)`).exec(seen);
      if (match) {
        seen = '';
        resolve({ child, url: new URL(match[1]!).origin });
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
      }
    });
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

/**
 * The processes of production's topology, as the bench starts them: the durable lane's worker apart
 * from the one that answers live events and tool calls, so a backlog of stored events never delays
 * what a caller is waiting for.
 */
export const TOPOLOGY = [
  { role: 'ingress', env: {} },
  { role: 'worker', env: { WORKER_QUEUES: 'events,notifications' } },
  { role: 'worker', env: { WORKER_QUEUES: 'live,tools' } },
  { role: 'relay', env: {} },
] as const;

/** The topology in words, for a section's title and bench-results.json. */
export const topologyDescription = () => TOPOLOGY.map(({ role, env }) => ('WORKER_QUEUES' in env ? `${role} (${env.WORKER_QUEUES})` : role)).join(', ');

export interface Topology {
  /** The ingress's webhook URL. */
  webhookUrl: string;
  relayUrl: string;
  stop(): Promise<void>;
}

/** Starts every process of the topology on `env` (ports 0) and stops them together (SIGTERM, awaited). */
export async function startTopology(env: Record<string, string>): Promise<Topology> {
  const processes: RoleProcess[] = [];
  for (const { role, env: own } of TOPOLOGY) processes.push(await startRole(role, { ...env, ...own }));
  return {
    webhookUrl: `${processes[0]!.url}${WEBHOOK_PATH}`,
    relayUrl: processes[3]!.url,
    async stop() {
      const exited = processes.map(({ child }) => new Promise((resolve) => child.once('exit', resolve)));
      for (const { child } of processes) child.kill('SIGTERM');
      await Promise.all(exited);
    },
  };
}

/**
 * Opens each patient's app on the relay (a WebSocket with a relay token) and calls `onEvent` with
 * every event it receives and the epoch ms it arrived.
 */
export function openApps(relayUrl: string, patientIds: string[], secret: string, onEvent: (event: RelayEvent, at: number) => void): Promise<WebSocket[]> {
  const expiresAt = Math.floor(Date.now() / 1000) + 3600;
  return Promise.all(
    patientIds.map(
      (patientId) =>
        new Promise<WebSocket>((resolve, reject) => {
          const token = signRelayToken({ patientId, expiresAt }, secret);
          const socket = new WebSocket(`${relayUrl.replace(/^http/, 'ws')}${STREAM_PATH}?token=${token}`);
          socket.on('message', (raw) => onEvent(JSON.parse(raw.toString()) as RelayEvent, now()));
          socket.once('open', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
}
