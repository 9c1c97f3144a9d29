import { SEED_PATIENTS } from '../seed/clinic-data.ts';

/** One step of a simulated call: an event to send, or a turn of speech, or tool calls whose answers steer what comes next. */
export type Step =
  | { kind: 'status'; status: string; endedReason?: string }
  | { kind: 'say'; role: 'assistant' | 'user'; text: string }
  | { kind: 'tools'; calls: { name: string; arguments: Record<string, unknown> | string }[] }
  | { kind: 'report'; endedReason: string; summary: string };

export interface Scenario {
  name: string;
  /** Our app's patient id in `call.metadata`, when the caller is logged in to the app. */
  patientId?: string;
  callerNumber: string;
  /** Builds the steps; `answer(name)` is the last parsed result of that tool, for steps that depend on it. */
  steps: (answer: (tool: string) => Record<string, unknown> | undefined) => Generator<Step>;
}

const [ada, ben, chloe] = SEED_PATIENTS as [(typeof SEED_PATIENTS)[0], (typeof SEED_PATIENTS)[0], (typeof SEED_PATIENTS)[0]];
const inDays = (days: number) => {
  const date = new Date(Date.now() + days * 24 * 3600 * 1000);
  // Weekends have no slots: move to Monday.
  const shift = date.getUTCDay() === 6 ? 2 : date.getUTCDay() === 0 ? 1 : 0;
  return new Date(date.getTime() + shift * 24 * 3600 * 1000).toISOString().slice(0, 10);
};

/** The three calls the simulator cycles through: a booking, a prescription question, an early hang-up. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'book a visit',
    callerNumber: ada.phoneNumber,
    *steps(answer) {
      yield { kind: 'status', status: 'ringing' };
      yield { kind: 'status', status: 'in-progress' };
      yield { kind: 'say', role: 'assistant', text: 'Hello, this is the Riverside Clinic assistant. How can I help you today?' };
      yield { kind: 'say', role: 'user', text: 'Hi, I would like to book a visit with my family doctor.' };
      yield { kind: 'say', role: 'assistant', text: 'Of course. Could you tell me your date of birth?' };
      yield { kind: 'say', role: 'user', text: 'March third, nineteen eighty-four.' };
      // Arguments as a JSON string here, as Vapi's docs type them.
      yield {
        kind: 'tools',
        calls: [{ name: 'lookup_patient_info', arguments: JSON.stringify({ dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber }) }],
      };
      yield { kind: 'tools', calls: [{ name: 'check_availability', arguments: { date: inDays(3), specialty: 'family medicine' } }] };
      const slots = (answer('check_availability')?.slots as { slotId: string }[] | undefined) ?? [];
      yield { kind: 'say', role: 'assistant', text: slots.length > 0 ? 'I have a morning slot. Shall I book it?' : 'I have nothing that day, sorry.' };
      if (slots.length > 0) {
        yield { kind: 'say', role: 'user', text: 'Yes please.' };
        yield { kind: 'tools', calls: [{ name: 'schedule_appointment', arguments: { slotId: slots[0]!.slotId, reason: 'annual check-up' } }] };
      }
      yield { kind: 'say', role: 'assistant', text: 'You are all set. Goodbye!' };
      yield { kind: 'status', status: 'ended', endedReason: 'assistant-ended-call' };
      yield { kind: 'report', endedReason: 'assistant-ended-call', summary: 'The patient booked a visit.' };
    },
  },
  {
    name: 'prescription and medications',
    patientId: ben.id,
    callerNumber: ben.phoneNumber,
    *steps() {
      yield { kind: 'status', status: 'ringing' };
      yield { kind: 'status', status: 'in-progress' };
      yield { kind: 'say', role: 'assistant', text: 'Hello Ben, how can I help?' };
      yield { kind: 'say', role: 'user', text: 'Is my statin refill ready, and which medications am I on?' };
      yield {
        kind: 'tools',
        calls: [
          { name: 'lookup_order', arguments: { kind: 'prescription' } },
          { name: 'get_health_records', arguments: { category: 'medications' } },
        ],
      };
      yield { kind: 'say', role: 'assistant', text: 'Your refill was sent to the pharmacy, and I can see two medications on file.' };
      yield { kind: 'say', role: 'user', text: 'Great, thanks.' };
      yield { kind: 'status', status: 'ended', endedReason: 'customer-ended-call' };
      yield { kind: 'report', endedReason: 'customer-ended-call', summary: 'The patient asked about a refill and medications.' };
    },
  },
  {
    name: 'hangs up early',
    callerNumber: chloe.phoneNumber.replace(/\d$/, '9'),
    *steps() {
      yield { kind: 'status', status: 'ringing' };
      yield { kind: 'status', status: 'in-progress' };
      yield { kind: 'say', role: 'assistant', text: 'Hello, this is the Riverside Clinic assistant.' };
      yield { kind: 'status', status: 'ended', endedReason: 'customer-ended-call' };
      yield { kind: 'report', endedReason: 'customer-ended-call', summary: 'The caller hung up.' };
    },
  },
];
