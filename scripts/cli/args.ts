import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Flags as node:util `parseArgs` declares them. */
export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** A command line that is not the command's: the message is one line and names the flag. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An operator's command: its `npm run` name, its usage text and its flags (node:util `parseArgs` options). */
export interface Command<Options extends ParseArgsOptionsConfig> {
  name: string;
  /** Printed under `--help` and after every usage error: the synopsis line first, then a line per flag. */
  usage: string;
  options: Options;
  /** Words after the flags (a sub-command); refused unless allowed. */
  allowPositionals?: boolean;
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type Parsed<Options extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: Options & typeof HELP; strict: true; allowPositionals: true }>>;

/** The flag a parseArgs error is about (`'--url <value>'` → `--url`). */
const flagIn = (message: string) => /'(-[^' ]+)/.exec(message)?.[1] ?? 'an option';

/** parseArgs's own message, made one line that names the flag. */
function usageErrorOf(error: unknown): UsageError {
  const { code, message } = error as { code?: string; message: string };
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${flagIn(message)}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(message.includes('does not take an argument') ? `${flagIn(message)} takes no value` : `${flagIn(message)} needs a value`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}`.trimEnd());
    default:
      return new UsageError(message.split('\n')[0]!);
  }
}

/**
 * Parses `args` strictly against the command's flags (and `-h`/`--help`). Returns `'help'` when
 * help was asked for; throws a UsageError for an unknown flag, a flag missing its value, a value
 * given to a switch, or a word the command does not take.
 */
export function parseCommand<Options extends ParseArgsOptionsConfig>(command: Command<Options>, args: string[]): Parsed<Options> | 'help' {
  let parsed: Parsed<Options>;
  try {
    parsed = parseArgs({ args, options: { ...command.options, ...HELP }, strict: true, allowPositionals: true }) as Parsed<Options>;
  } catch (error) {
    throw usageErrorOf(error);
  }
  if ((parsed.values as { help?: boolean }).help) return 'help';
  if (!command.allowPositionals && parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${parsed.positionals[0]}`);
  return parsed;
}

/** Ends the command as a usage error does: one line naming what was wrong, the usage, exit 2, no stack trace. */
export function exitWithUsage(command: Command<ParseArgsOptionsConfig>, message: string): never {
  process.stderr.write(`npm run ${command.name}: ${message}\n\n${command.usage}\n`);
  process.exit(2);
}

/**
 * The command line of a script, from `process.argv`: `--help` prints the usage and exits 0; a
 * usage error exits as `exitWithUsage` does.
 */
export function readCommandLine<Options extends ParseArgsOptionsConfig>(command: Command<Options>, args = process.argv.slice(2)): Parsed<Options> {
  try {
    const parsed = parseCommand(command, args);
    if (parsed !== 'help') return parsed;
    process.stdout.write(`${command.usage}\n`);
    process.exit(0);
  } catch (error) {
    if (error instanceof UsageError) exitWithUsage(command, error.message);
    throw error;
  }
}

/**
 * Runs a command's body and exits with its code; anything it throws (an unknown id, an
 * unreachable database) is one line on stderr and exit 1, never a stack trace.
 */
export async function runCommand(main: () => Promise<number>, cleanUp: () => Promise<void> = async () => {}): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    await cleanUp().catch(() => {});
  }
}
