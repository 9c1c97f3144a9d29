import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { FieldCipher } from '../crypto.ts';
import { JobCodec } from '../queues/codec.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Encrypts health data at the storage edges (Postgres columns, Redis jobs, pub/sub messages). */
    cipher: FieldCipher;
    /** Seals job payloads and results with `cipher`. */
    jobCodec: JobCodec;
  }
}

/** Builds the process's one FieldCipher from the configured keys. */
export const cipherPlugin = fp(
  async (app: FastifyInstance, { keys }: { keys: readonly Buffer[] }) => {
    const cipher = new FieldCipher(keys);
    app.decorate('cipher', cipher);
    app.decorate('jobCodec', new JobCodec(cipher));
  },
  { name: 'cipher' },
);
