import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../scripts/cli/args.ts';
import { PACES } from '../../scripts/simulate/pace.ts';
import { webhookUrlOf } from '../../scripts/simulate/webhook-url.ts';

const command = {
  name: 'example',
  usage: 'Usage: npm run example -- [--url URL] [--quiet]',
  options: { url: { type: 'string' }, quiet: { type: 'boolean' }, id: { type: 'string', multiple: true } },
} as const;

const refusal = (args: string[], allowPositionals = false) => {
  try {
    parseCommand({ ...command, allowPositionals }, args);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`${args.join(' ')} was accepted`);
};

describe('parseCommand', () => {
  it('reads flags, repeated ones and, when the command takes them, words', () => {
    const parsed = parseCommand({ ...command, allowPositionals: true }, ['list', '--url', 'http://x', '--quiet', '--id', 'a', '--id=b']);
    expect(parsed).not.toBe('help');
    expect(parsed !== 'help' && { values: parsed.values, positionals: parsed.positionals }).toEqual({
      values: { url: 'http://x', quiet: true, id: ['a', 'b'] },
      positionals: ['list'],
    });
  });

  it('answers help for --help and -h, whatever else is there', () => {
    expect(parseCommand(command, ['--help'])).toBe('help');
    expect(parseCommand(command, ['--url', 'http://x', '-h'])).toBe('help');
  });

  it('refuses, in one line naming the flag, what the command does not take', () => {
    expect(refusal(['--bogus'])).toBe('unknown option --bogus');
    expect(refusal(['-x'])).toBe('unknown option -x');
    expect(refusal(['--url'])).toBe('--url needs a value');
    expect(refusal(['--url', '--quiet'])).toBe('--url needs a value');
    expect(refusal(['--quiet=yes'])).toBe('--quiet takes no value');
    expect(refusal(['list'])).toBe('unexpected argument list');
  });
});

describe('simulate options', () => {
  it('takes the ingress base URL, the webhook URL or a base behind a prefix, and nothing that is not http(s)', () => {
    const webhook = 'http://127.0.0.1:3000/api/v1/sessions/vapi/webhook';
    expect(webhookUrlOf('http://127.0.0.1:3000')).toBe(webhook);
    expect(webhookUrlOf('http://127.0.0.1:3000/')).toBe(webhook);
    expect(webhookUrlOf(webhook)).toBe(webhook);
    expect(webhookUrlOf(`${webhook}/`)).toBe(webhook);
    expect(webhookUrlOf('https://clinic.example/vapi')).toBe('https://clinic.example/vapi/api/v1/sessions/vapi/webhook');
    expect(webhookUrlOf('127.0.0.1:3000')).toBeNull();
    expect(webhookUrlOf('ftp://clinic.example')).toBeNull();
  });

  it('speaks at 150 words a minute at realtime pace, and faster than one word takes at fast pace', () => {
    expect(3 * PACES.realtime.thirdOfUtteranceMs(150)).toBe(60_000);
    expect(3 * PACES.realtime.thirdOfUtteranceMs(13)).toBeCloseTo(5_200);
    expect(PACES.fast.thirdOfUtteranceMs()).toBeLessThan(PACES.realtime.thirdOfUtteranceMs(1));
  });
});
