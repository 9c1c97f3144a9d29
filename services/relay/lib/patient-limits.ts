import { REPLAY_BUDGET } from './limits.ts';
import { TokenBucket } from './token-bucket.ts';

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
