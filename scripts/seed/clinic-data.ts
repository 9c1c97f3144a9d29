/**
 * The fictional clinic `npm run db:seed` creates, as plain data: the simulator and the tests use
 * the same patients. Every name, birth date and number here is invented.
 */
export interface SeedPatient {
  id: string;
  firstName: string;
  lastName: string;
  /** YYYY-MM-DD */
  dateOfBirth: string;
  /** E.164 */
  phoneNumber: string;
  allergies: { substance: string; reaction: string }[];
  medications: { name: string; dose: string; since: string }[];
  visits: { date: string; providerId: string; reason: string }[];
  orders: { id: string; kind: 'prescription' | 'lab'; description: string; status: string; updatedAt: string }[];
}

export const SEED_PROVIDERS = [
  { id: 'prov-okafor', name: 'Dr. Amara Okafor', specialty: 'family medicine' },
  { id: 'prov-lindqvist', name: 'Dr. Erik Lindqvist', specialty: 'cardiology' },
  { id: 'prov-tanaka', name: 'Dr. Yui Tanaka', specialty: 'dermatology' },
] as const;

export const SEED_PATIENTS: SeedPatient[] = [
  {
    id: 'pat-ada-moreno',
    firstName: 'Ada',
    lastName: 'Moreno',
    dateOfBirth: '1984-03-03',
    phoneNumber: '+15550100101',
    allergies: [{ substance: 'penicillin', reaction: 'hives' }],
    medications: [{ name: 'lisinopril', dose: '10 mg once daily', since: '2023-05-10' }],
    visits: [{ date: '2026-09-14', providerId: 'prov-okafor', reason: 'blood pressure check' }],
    orders: [
      { id: 'ord-ada-rx-1', kind: 'prescription', description: 'lisinopril 10 mg refill', status: 'ready for pickup', updatedAt: '2026-11-18T10:00:00Z' },
      { id: 'ord-ada-lab-1', kind: 'lab', description: 'basic metabolic panel', status: 'results available', updatedAt: '2026-11-10T08:30:00Z' },
    ],
  },
  {
    id: 'pat-ben-osei',
    firstName: 'Ben',
    lastName: 'Osei',
    dateOfBirth: '1971-11-22',
    phoneNumber: '+15550100102',
    allergies: [{ substance: 'latex', reaction: 'rash' }],
    medications: [
      { name: 'atorvastatin', dose: '20 mg at night', since: '2021-02-01' },
      { name: 'metformin', dose: '500 mg twice daily', since: '2022-07-15' },
    ],
    visits: [{ date: '2026-10-02', providerId: 'prov-lindqvist', reason: 'cardiology follow-up' }],
    orders: [
      { id: 'ord-ben-rx-1', kind: 'prescription', description: 'atorvastatin 20 mg refill', status: 'sent to pharmacy', updatedAt: '2026-11-21T14:05:00Z' },
      { id: 'ord-ben-lab-1', kind: 'lab', description: 'lipid panel', status: 'awaiting sample', updatedAt: '2026-11-19T09:00:00Z' },
    ],
  },
  {
    id: 'pat-chloe-nguyen',
    firstName: 'Chloe',
    lastName: 'Nguyen',
    dateOfBirth: '1996-07-09',
    phoneNumber: '+15550100103',
    allergies: [],
    medications: [{ name: 'cetirizine', dose: '10 mg as needed', since: '2024-04-01' }],
    visits: [{ date: '2026-08-21', providerId: 'prov-tanaka', reason: 'eczema review' }],
    orders: [
      {
        id: 'ord-chloe-rx-1',
        kind: 'prescription',
        description: 'hydrocortisone cream refill',
        status: 'awaiting approval',
        updatedAt: '2026-11-22T16:45:00Z',
      },
      { id: 'ord-chloe-lab-1', kind: 'lab', description: 'vitamin D level', status: 'results available', updatedAt: '2026-10-30T11:15:00Z' },
    ],
  },
];

/** Bookable times each provider offers on every weekday (UTC hours), over the coming two weeks. */
export const SLOT_HOURS_UTC = [14, 15, 16, 17, 19, 20] as const;
export const SLOT_DAYS_AHEAD = 14;
export const SLOT_MINUTES = 30;
