import { describe, expect, it } from 'vitest';
import { TOOLS } from '../../services/worker/tools/registry.ts';
import { runScript } from '../helpers/cli.ts';

const env = { PATH: process.env.PATH, VAPI_WEBHOOK_URL: 'https://clinic.example/api/v1/sessions/vapi/webhook' };

describe('npm run tools:export', () => {
  it("prints every tool in Vapi's format with the webhook as its server", async () => {
    const { code, stdout } = await runScript('tools-export.ts', [], env);
    expect(code).toBe(0);
    const tools = JSON.parse(stdout) as { function: { name: string }; server: { url: string } }[];
    expect(tools.map((tool) => tool.function.name)).toEqual([...TOOLS.keys()]);
    for (const tool of tools) expect(tool.server.url).toBe(env.VAPI_WEBHOOK_URL);
  });

  it('prints its usage for --help, and a one-line error with the usage (exit 2, no stack) for a bad command line', async () => {
    expect(await runScript('tools-export.ts', ['-h'], env)).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: npm run tools:export') });
    for (const [args, message] of [
      [['--pretty'], 'unknown option --pretty'],
      [['all'], 'unexpected argument all'],
    ] as const) {
      const { code, stdout, stderr } = await runScript('tools-export.ts', [...args], env);
      expect({ code, stdout, first: stderr.split('\n')[0] }).toEqual({ code: 2, stdout: '', first: `npm run tools:export: ${message}` });
      expect(stderr).toContain('Usage: npm run tools:export');
    }
  });
});
