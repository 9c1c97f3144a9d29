import { TokenBucket } from './token-bucket.ts';

/**
 * Stored events a patient's replays may read on one relay process: 500 at once (what an app that
 * reconnects has missed, or much of a call it opens, replayed without waiting), then 1,000 a second
 * (about 1 MB/s: a whole hour-long call in a second or two). An app never asks for more; one that
 * does costs the process a few percent of a core at that pace whatever it asks, in pieces small
 * enough that every other patient's live events pass between them.
 */
export const REPLAY_BUDGET = { burst: 500, perSecond: 1_000 } as const;

interface Allowance {
  /** Sockets open now, from the upgrade to the TCP close. */
  sockets: number;
  /** Events the patient's replays may still read; shared by all of its sockets. */
  replays: TokenBucket;
}

/**
 * What one patient may take of one relay process: at most `maxSockets` sockets, and a replay budget
 * its sockets share. A patient is remembered until it has no socket left and its budget has
 * refilled, so closing every socket and reconnecting buys nothing.
 */
export function createPatientLimits(maxSockets: number) {
  const patients = new Map<string, Allowance>();
  const allowanceOf = (patientId: string): Allowance => {
    let allowance = patients.get(patientId);
    if (!allowance) {
      allowance = { sockets: 0, replays: new TokenBucket(REPLAY_BUDGET.burst, REPLAY_BUDGET.perSecond) };
      patients.set(patientId, allowance);
    }
    return allowance;
  };
  const forgettable = (allowance: Allowance) => allowance.sockets === 0 && allowance.replays.full;

  return {
    /** Takes one of the patient's socket places; false when they are all taken. */
    admit(patientId: string): boolean {
      const allowance = allowanceOf(patientId);
      if (allowance.sockets >= maxSockets) return false;
      allowance.sockets += 1;
      return true;
    },
    /** Gives back a place `admit` took. */
    release(patientId: string): void {
      const allowance = patients.get(patientId);
      if (!allowance) return;
      allowance.sockets -= 1;
      if (forgettable(allowance)) patients.delete(patientId);
    },
    /** The replay budget the patient's sockets draw on. */
    replayBudget(patientId: string): TokenBucket {
      return allowanceOf(patientId).replays;
    },
    /** Forgets the patients with no socket whose budget has refilled. */
    sweep(): void {
      for (const [patientId, allowance] of patients) if (forgettable(allowance)) patients.delete(patientId);
    },
  };
}

export type PatientLimits = ReturnType<typeof createPatientLimits>;
