import type { FastifyInstance } from 'fastify';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import type { DatabaseHandle } from '#shared/db/client';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { realisticCall, type CallOptions } from '../fixtures/vapi-call.ts';
import { storeFor } from '../helpers/jobs.ts';

/** A history API answer: status, headers and the body as sent (to compare byte for byte) and parsed. */
export interface HistoryAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

/** Sends a GET to a listening relay over real HTTP, with the token as `Authorization: Bearer` unless told otherwise. */
export function historyClient(relay: FastifyInstance) {
  const { port } = relay.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  return async (path: string, token?: string, headers: Record<string, string> = {}): Promise<HistoryAnswer> => {
    const response = await fetch(`${base}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/**
 * Stores calls the way the worker does (the event processor: sessions, encrypted transcripts and
 * summaries, numbered relay events), so the history API reads rows exactly as production writes them.
 */
export function callStore(config: Config, handle: DatabaseHandle) {
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const process = createEventProcessor({ db: handle.db, cipher, onCommit: () => undefined });
  const store = (body: unknown) => process(storeFor(body, cipher));
  return {
    cipher,
    store,
    /** A whole call, from the first status update to the end-of-call report; resolves with its id. */
    async call(options: CallOptions): Promise<string> {
      const call = realisticCall(options);
      for (const body of call.events) await store(body);
      return call.callId;
    },
  };
}
