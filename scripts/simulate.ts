import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { loadConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { exitWithUsage, readCommandLine } from './cli/args.ts';
import { isPaceName, PACES, WORDS_PER_MINUTE } from './simulate/pace.ts';
import { SCENARIOS, type Scenario } from './simulate/scenarios.ts';
import { vapiSigner } from './simulate/vapi-signer.ts';
import { webhookUrlOf } from './simulate/webhook-url.ts';

const COMMAND = {
  name: 'simulate',
  usage: `Usage: npm run simulate -- [--url URL] [--calls N] [--pace fast|realtime] [--quiet]
  --url URL      the ingress (http://127.0.0.1:3000) or its webhook (…${WEBHOOK_PATH});
                 default http://127.0.0.1:$PORT
  --calls N      calls to play at once (default 3)
  --pace P       fast (default), or realtime: at speaking pace (${WORDS_PER_MINUTE} words a minute), to follow on the watch page
  --quiet        print the summary only
  -h, --help     this help`,
  options: { url: { type: 'string' }, calls: { type: 'string', default: '3' }, pace: { type: 'string', default: 'fast' }, quiet: { type: 'boolean' } },
} as const;

/**
 * `npm run simulate -- [--url U] [--calls N] [--pace fast|realtime]`: plays realistic Vapi calls
 * against a running ingress, signed the way the server is configured (its .env or environment),
 * answering tool calls and checking the answers, and prints a timeline. Exits non-zero if anything
 * was rejected or a tool call went unanswered, and at once when nothing answers at the URL or it
 * is not the webhook's.
 */
const { values } = readCommandLine(COMMAND);
const calls = Number(values.calls);
if (!Number.isInteger(calls) || calls < 1) exitWithUsage(COMMAND, '--calls must be a positive integer');
if (!isPaceName(values.pace)) exitWithUsage(COMMAND, `--pace must be fast or realtime, not ${values.pace}`);
const pace = PACES[values.pace];
const given = values.url === undefined ? undefined : webhookUrlOf(values.url);
if (given === null) exitWithUsage(COMMAND, `--url must be an http(s) URL, not ${values.url}`);
const { env } = resolveEnvironment(process.env, resolve('.env'), ['ingress']);
const config = loadConfig(env, ['ingress']);
const url = given ?? `http://127.0.0.1:${config.ingressPort}${WEBHOOK_PATH}`;
const sign = vapiSigner(config.vapi, url);
const started = Date.now();
const problems: string[] = [];
let sent = 0;
/** Whether the ingress answered anything yet: until it has, a request that fails stops the run. */
let reached = false;
const progress = calls > 10 && !values.quiet;

function line(callNo: number, what: string, status: number, ms: number, note = '') {
  if (progress) {
    process.stdout.write(`\r${sent} events sent, ${problems.length} problems, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  if (!values.quiet)
    console.log(
      `+${((Date.now() - started) / 1000).toFixed(3).padStart(7)} s  call ${String(callNo).padStart(3)}  ${what.padEnd(44)} ${status}  ${String(ms).padStart(4)} ms  ${note}`,
    );
}

async function post(callNo: number, what: string, message: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const body = JSON.stringify({ message: { timestamp: Date.now(), ...message } });
  const t0 = Date.now();
  sent++;
  try {
    const response = await fetch(url, { method: 'POST', headers: sign(body), body });
    reached = true;
    if (response.status === 404) {
      stop(
        `${url} answered 404: that is not the webhook. The ingress serves it at ${WEBHOOK_PATH}; give --url its base URL (http://127.0.0.1:3000) or the full webhook URL.`,
      );
    }
    const answer = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    line(callNo, what, response.status, Date.now() - t0);
    if (!response.ok) problems.push(`call ${callNo}: ${what} answered ${response.status}`);
    return response.ok ? answer : undefined;
  } catch (error) {
    if (!reached) {
      const { cause } = error as { cause?: { code?: string; message?: string } };
      stop(`nothing answers at ${url} (${cause?.code ?? cause?.message ?? (error as Error).message}): is the ingress running (npm start)?`);
    }
    problems.push(`call ${callNo}: ${what} failed: ${(error as Error).message}`);
    line(callNo, what, 0, Date.now() - t0, 'no answer');
    return undefined;
  }
}

/** Ends the run at once: what it would send next would be refused the same way. */
function stop(reason: string): never {
  if (progress) process.stdout.write('\n');
  console.error(`npm run simulate: ${reason}`);
  process.exit(1);
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function play(callNo: number, scenario: Scenario) {
  const call = {
    id: `sim-${randomUUID()}`,
    orgId: 'org-simulator',
    type: 'inboundPhoneCall',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    customer: { number: scenario.callerNumber },
    ...(scenario.patientId ? { metadata: { patientId: scenario.patientId } } : {}),
  };
  const conversation: Record<string, unknown>[] = [];
  const answers = new Map<string, Record<string, unknown>>();
  const startedAt = new Date();
  let turn = 0;
  await post(callNo, `status-update queued (${scenario.name})`, { type: 'status-update', status: 'queued', call });
  for (const step of scenario.steps((tool) => answers.get(tool))) {
    if (step.kind === 'status') {
      await post(callNo, `status-update ${step.status}`, {
        type: 'status-update',
        status: step.status,
        call,
        ...(step.endedReason ? { endedReason: step.endedReason } : {}),
      });
    } else if (step.kind === 'say') {
      const words = step.text.split(' ');
      await post(callNo, `speech-update ${step.role} started`, { type: 'speech-update', role: step.role, status: 'started', turn, call });
      const third = pace.thirdOfUtteranceMs(words.length);
      for (const upTo of [Math.ceil(words.length / 3), Math.ceil((2 * words.length) / 3)]) {
        await pause(third);
        await post(callNo, `transcript ${step.role} partial`, {
          type: 'transcript',
          role: step.role,
          transcriptType: 'partial',
          transcript: words.slice(0, upTo).join(' '),
          call,
        });
      }
      await pause(third);
      await post(callNo, `transcript ${step.role} final`, { type: 'transcript', role: step.role, transcriptType: 'final', transcript: step.text, call });
      await post(callNo, `speech-update ${step.role} stopped`, { type: 'speech-update', role: step.role, status: 'stopped', turn: turn++, call });
      conversation.push({
        role: step.role === 'assistant' ? 'bot' : 'user',
        message: step.text,
        time: Date.now(),
        secondsFromStart: (Date.now() - startedAt.getTime()) / 1000,
      });
    } else if (step.kind === 'tools') {
      const toolCallList = step.calls.map((c) => ({
        id: `call_${randomUUID().slice(0, 12)}`,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      }));
      const what = `tool-calls ${step.calls.map((c) => c.name).join(', ')}`;
      const answer = await post(callNo, what, {
        type: 'tool-calls',
        call,
        toolCallList,
        toolCalls: toolCallList,
        toolWithToolCallList: toolCallList.map((toolCall) => ({ type: 'function', function: { name: toolCall.function.name }, toolCall })),
      });
      const results = (answer?.results ?? []) as { toolCallId?: string; name?: string; result?: unknown; error?: unknown }[];
      toolCallList.forEach((toolCall, i) => {
        const result = results[i];
        const text = result?.result ?? result?.error;
        if (!result || result.toolCallId !== toolCall.id || result.name !== toolCall.function.name || typeof text !== 'string' || /[\r\n]/.test(text)) {
          problems.push(`call ${callNo}: ${toolCall.function.name} unanswered or malformed`);
          return;
        }
        if (typeof result.result === 'string') answers.set(toolCall.function.name, JSON.parse(result.result) as Record<string, unknown>);
        if (!values.quiet && !progress)
          console.log(`${' '.repeat(22)}→ ${toolCall.function.name}: ${typeof result.result === 'string' ? 'result' : 'error'} ${text.slice(0, 100)}`);
      });
      conversation.push({ role: 'tool_calls', message: '', time: Date.now(), toolCalls: toolCallList });
      await post(callNo, 'conversation-update', { type: 'conversation-update', call, messages: conversation, messagesOpenAIFormatted: [] });
    } else {
      await post(callNo, 'end-of-call-report', {
        type: 'end-of-call-report',
        call,
        endedReason: step.endedReason,
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        cost: 0.0421,
        artifact: {
          messages: conversation,
          transcript: conversation
            .filter((m) => m.message)
            .map((m) => `${m.role === 'bot' ? 'AI' : 'User'}: ${m.message}`)
            .join('\n'),
        },
        analysis: { summary: step.summary, successEvaluation: 'true' },
      });
    }
    await pause(pace.betweenStepsMs);
  }
  return call.id;
}

const ids = await Promise.all(Array.from({ length: calls }, (_, i) => play(i + 1, SCENARIOS[i % SCENARIOS.length]!)));
if (progress) process.stdout.write('\n');
console.log(`\n${calls} call(s), ${sent} events in ${((Date.now() - started) / 1000).toFixed(1)} s to ${url}`);
console.log(`calls: ${ids.join(', ')}`);
if (problems.length > 0) {
  console.error(`${problems.length} problem(s):\n  ${problems.slice(0, 20).join('\n  ')}`);
  process.exit(1);
}
console.log('every event accepted, every tool call answered');
