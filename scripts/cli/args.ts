import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A usage error: its message and the usage on stderr, exit 2 (a command that could not start). */
export function usageError(usage: string, message: string): never {
  console.error(`error: ${message}\n\n${usage}`);
  process.exit(2);
}

/**
 * A command's arguments, parsed strictly: `--help` (or `-h`) prints the usage on stdout and exits
 * 0; an unknown flag, a missing value or an unexpected argument is a usage error naming it.
 */
export function parseCommand<const O extends Options>(usage: string, options: O, allowPositionals = false) {
  const config = { args: process.argv.slice(2), options: { ...options, help: { type: 'boolean', short: 'h' } } as const, strict: true, allowPositionals } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageError(usage, (error as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
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
