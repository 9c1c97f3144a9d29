import type { FieldCipher } from '../crypto.ts';
import type { JobData, QueueDefinition } from './definition.ts';

/**
 * Seals what a job carries and what it returns with the field cipher, so no health data sits in
 * Redis in clear: not in the job, not in BullMQ's stored return value, not in the dashboard.
 */
export class JobCodec {
  constructor(private readonly cipher: FieldCipher) {}

  seal<M extends Record<string, unknown>, P>(_queue: QueueDefinition<M, P, unknown>, meta: M, payload: P): JobData<M> {
    return { ...meta, sealed: this.cipher.encryptJson(payload) };
  }

  open<M extends Record<string, unknown>, P>(_queue: QueueDefinition<M, P, unknown>, data: JobData<M>): P {
    return this.cipher.decryptJson<P>(data.sealed);
  }

  sealResult<R>(_queue: QueueDefinition<Record<string, unknown>, unknown, R>, result: R): string {
    return this.cipher.encryptJson(result);
  }

  openResult<R>(_queue: QueueDefinition<Record<string, unknown>, unknown, R>, stored: string): R {
    return this.cipher.decryptJson<R>(stored);
  }
}
