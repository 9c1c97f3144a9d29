import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../../scripts/cli/args.ts';

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
