import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { FieldCipher } from '../crypto.ts';
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
function countedHook(app: FastifyInstance, name: string, help: string, level: 'warn' | 'error', message: string): SealHook {
  const counter = new Counter({ name, help, labelNames: ['queue', 'sealed'], registers: [app.metrics] });
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
    const onLegacy = countedHook(
      app,
      'vapi_relay_legacy_seals_opened_total',
      'Jobs and results sealed by an earlier version (clear fields not bound) opened during the upgrade window',
      'warn',
      'opened a seal of the earlier format, not bound to its clear fields: accepted only during the upgrade window',
    );
    const onTampered = countedHook(
      app,
      'vapi_relay_tampered_seals_total',
      'Jobs and results refused because they were altered in Redis after they were sealed',
      'error',
      'a seal was altered in Redis after it was sealed: refused',
    );
    app.decorate('cipher', cipher);
    app.decorate('jobCodec', new JobCodec(cipher, { legacyUntil: legacySealsUntil, onLegacy, onTampered }));
  },
  { name: 'cipher', dependencies: ['metrics'] },
);
