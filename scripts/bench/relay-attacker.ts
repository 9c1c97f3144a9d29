/**
 * The relay bench's attacker, run in a process of its own (`fork`) so that its work never competes
 * with the relay or the victim inside their event loops. With one patient's valid token it opens
 * sockets to the relay and keeps asking each for a whole large session again (`afterSeq: 0`), every
 * few milliseconds and after every answer; a socket the relay closes or refuses is opened again.
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
  /** Of the first `sockets` upgrades, how many the relay accepted and how many it answered 429. */
  accepted: number;
  refused: number;
  /** Over the whole attack. */
  subscribes: number;
  rateLimited: number;
  closes: number;
  bytesReceived: number;
}

const report: AttackReport = { accepted: 0, refused: 0, subscribes: 0, rateLimited: 0, closes: 0, bytesReceived: 0 };
const sockets = new Set<WebSocket>();
let stopping = false;

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
      // An answer that ends a request: ask again at once (the bytes are matched, never parsed: parsing 4 MB is the relay's work, not ours).
      if (raw.subarray(0, 15).toString() === '{"type":"error"') {
        report.rateLimited++;
        subscribe();
      }
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
      if (timer) report.closes++;
      settled(false);
      if (!stopping) setTimeout(() => void attack(plan), timer ? 0 : 200);
    });
  });
}

process.on('message', (message: AttackPlan | 'stop') => {
  if (message === 'stop') {
    stopping = true;
    for (const ws of sockets) ws.terminate();
    process.send!(report, () => process.disconnect());
    return;
  }
  void Promise.all(Array.from({ length: message.sockets }, () => attack(message))).then((accepted) => {
    report.accepted = accepted.filter(Boolean).length;
    report.refused = accepted.length - report.accepted;
    // Ready once the replays flow: the flood is then what the victim lives with, not its first moment.
    const ready = setInterval(() => {
      if (report.bytesReceived === 0) return;
      clearInterval(ready);
      process.send!({ ready: true });
    }, 10);
  });
});
