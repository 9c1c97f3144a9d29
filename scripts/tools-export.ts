import { resolve } from 'node:path';
import type { Vapi } from '@vapi-ai/server-sdk';
import { z } from 'zod';
import { readEnvironment } from '#shared/secrets';
import { WEBHOOK_PATH } from '#shared/http/paths';
import type { ToolDefinition } from '../services/worker/tools/define-tool.ts';
import { TOOLS } from '../services/worker/tools/registry.ts';
import { readCommandLine } from './cli/args.ts';

/** The JSON-schema keywords Vapi's `JsonSchema` type carries, from zod's own export of a parameter. */
function vapiSchema(schema: Record<string, unknown>): Vapi.JsonSchema {
  const picked = Object.fromEntries(['type', 'enum', 'pattern', 'description', 'format'].filter((key) => key in schema).map((key) => [key, schema[key]]));
  return picked as unknown as Vapi.JsonSchema;
}

/** One tool in Vapi's create-tool format: a sync function tool whose server is our webhook. */
function toVapiTool(tool: ToolDefinition, serverUrl: string): Vapi.CreateToolsRequest {
  const json = z.toJSONSchema(tool.parameters, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  const properties = Object.fromEntries(Object.entries(json.properties ?? {}).map(([name, schema]) => [name, vapiSchema(schema)]));
  return {
    type: 'function',
    async: false,
    function: {
      name: tool.name,
      description: tool.description,
      parameters: { type: 'object', properties, ...(json.required?.length ? { required: json.required } : {}) },
    },
    server: { url: serverUrl, timeoutSeconds: 20 },
  };
}

/**
 * `npm run tools:export`: the assistant's tools in Vapi's format, ready to paste into the
 * assistant (or POST to Vapi's /tool). The server URL is `VAPI_WEBHOOK_URL` when set.
 */
readCommandLine({
  name: 'tools:export',
  usage: `Usage: npm run tools:export
  Prints the assistant's tools as a JSON array in Vapi's create-tool format; their server URL is
  VAPI_WEBHOOK_URL when set, else this machine's ingress.
  -h, --help    this help`,
  options: {},
});
const env = readEnvironment(process.env, resolve('.env'));
const serverUrl = env.VAPI_WEBHOOK_URL || `http://127.0.0.1:${env.PORT ?? 3000}${WEBHOOK_PATH}`;
console.log(
  JSON.stringify(
    [...TOOLS.values()].map((tool) => toVapiTool(tool, serverUrl)),
    null,
    2,
  ),
);
