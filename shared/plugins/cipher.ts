import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Counter } from 'prom-client';
import { FieldCipher } from '../crypto.ts';
import { createSealMetrics } from '../http/metrics.ts';
import { JobCodec, type SealHook } from '../queues/codec.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Encrypts health data at the storage edges (Postgres columns, Redis jobs, pub/sub messages). */
    cipher: FieldCipher;
    /** Seals job payloads and results with `cipher`, bound to their queue and clear fields. */
    jobCodec: JobCodec;
  }
}

/** A codec hook that counts each seal it is told of, by queue and kind (job or result), and logs it at `level`. */
function countedHook(app: FastifyInstance, counter: Counter<'queue' | 'sealed'>, level: 'warn' | 'error', message: string): SealHook {
  return (queue, sealed) => {
    counter.inc({ queue, sealed });
    app.log[level]({ queue, sealed }, message);
  };
}

/**
 * Builds the process's one FieldCipher from the configured keys, and its job codec. Every seal of
 * the old, unbound format opened during the upgrade window (codec.ts) is counted and logged: when
 * the counter stays at zero, nothing of the old format is left. Every seal found altered is counted
 * and logged at error: someone wrote to Redis who should not have.
 */
export const cipherPlugin = fp(
  async (app: FastifyInstance, { keys, legacySealsUntil }: { keys: readonly Buffer[]; legacySealsUntil?: number | undefined }) => {
    const cipher = new FieldCipher(keys);
    const seals = createSealMetrics(app.metrics);
    const onLegacy = countedHook(
      app,
      seals.legacyOpened,
      'warn',
      'opened a seal of the earlier format, not bound to its clear fields: accepted only during the upgrade window',
    );
    const onTampered = countedHook(app, seals.tampered, 'error', 'a seal was altered in Redis after it was sealed: refused');
    app.decorate('cipher', cipher);
    app.decorate('jobCodec', new JobCodec(cipher, { legacyUntil: legacySealsUntil, onLegacy, onTampered }));
  },
  { name: 'cipher', dependencies: ['metrics'] },
);
