/**
 * The relay bench's attacker, run in a process of its own (`fork`) so that its work never competes
 * with the relay or the victim inside their event loops. With one patient's valid token it opens
 * sockets to the relay and keeps asking each for the whole of a large session (`afterSeq: 0`),
 * every few milliseconds and after every error answer; a socket the relay closes is opened again.
 * It attacks from each plan it receives until told to `pause` (its sockets dropped) or `stop`.
 */
import { WebSocket } from 'ws';

export interface AttackPlan {
  url: string;
  token: string;
  sessionId: string;
  sockets: number;
  /** Between two subscribes on one socket, whatever it was answered. */
  everyMs: number;
}

export interface AttackReport {
  /** Per attack: of its first `sockets` upgrades, how many the relay accepted (the rest got 429). */
  accepted: number[];
  /** Over all attacks. */
  subscribes: number;
  errors: number;
  closes: number;
  bytesReceived: number;
  /** The attacker's own CPU time (µs), which a real one would spend on another machine. */
  cpuUs: number;
}

const report: AttackReport = { accepted: [], subscribes: 0, errors: 0, closes: 0, bytesReceived: 0, cpuUs: 0 };
const sockets = new Set<WebSocket>();
let attacking = false;

/** Opens one socket that subscribes on a timer and after each error frame; resolves with whether it was accepted. */
function attack(plan: AttackPlan): Promise<boolean> {
  return new Promise((settled) => {
    const ws = new WebSocket(plan.url, { headers: { authorization: `Bearer ${plan.token}` } });
    sockets.add(ws);
    const subscribe = () => {
      if (ws.readyState !== ws.OPEN) return;
      report.subscribes++;
      ws.send(JSON.stringify({ type: 'subscribe', sessionId: plan.sessionId, afterSeq: 0 }));
    };
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      settled(true);
      subscribe();
      timer = setInterval(subscribe, plan.everyMs);
    });
    ws.on('message', (raw: Buffer) => {
      report.bytesReceived += raw.length;
      // Matched, never parsed: turning 4 MB into objects is the relay's work to avoid, not ours to do.
      if (raw.subarray(0, 15).toString() !== '{"type":"error"') return;
      report.errors++;
      subscribe();
    });
    ws.on('unexpected-response', (_request, response) => {
      response.resume();
      settled(false);
      ws.terminate();
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(timer);
      sockets.delete(ws);
      if (timer && attacking) report.closes++;
      settled(false);
      setTimeout(() => attacking && void attack(plan), timer ? 0 : 200);
    });
  });
}

/** Opens the plan's sockets; answers once the relay has answered them. */
async function start(plan: AttackPlan) {
  attacking = true;
  const before = report.bytesReceived;
  const accepted = await Promise.all(Array.from({ length: plan.sockets }, () => attack(plan)));
  report.accepted.push(accepted.filter(Boolean).length);
  while (report.bytesReceived === before) await new Promise((resolve) => setTimeout(resolve, 5));
  process.send!({ attacking: true });
}

process.on('message', (message: AttackPlan | 'pause' | 'stop') => {
  if (typeof message === 'object') return void start(message);
  attacking = false;
  for (const ws of sockets) ws.terminate();
  if (message === 'pause') process.send!({ attacking: false });
  else {
    const cpu = process.cpuUsage();
    process.send!({ ...report, cpuUs: cpu.user + cpu.system }, () => process.disconnect());
  }
});
