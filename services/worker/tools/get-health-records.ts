import { and, desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { healthRecords } from '#shared/db/schema';
import { defineTool, verifiedPatient } from './define-tool.ts';

const CATEGORIES = ['allergies', 'medications', 'visits'] as const;

/** The verified patient's allergies, medications and recent visits (one category or all). */
export const getHealthRecords = defineTool({
  name: 'get_health_records',
  description: "Read the verified caller's allergies, medications or recent visits (category), or all of them.",
  parameters: z.object({ category: z.enum([...CATEGORIES, 'all']).default('all') }),
  async handler(args, context) {
    const patientId = verifiedPatient(context);
    const wanted = args.category === 'all' ? [...CATEGORIES] : [args.category];
    const rows = await context.db
      .select({ category: healthRecords.category, data: healthRecords.data })
      .from(healthRecords)
      .where(and(eq(healthRecords.patientId, patientId), inArray(healthRecords.category, wanted)))
      .orderBy(desc(healthRecords.recordedAt))
      .limit(100);
    // Counted, not listed: a clinic's record ids may embed the patient's, which an erasure could not then take out of the audit log.
    const count = (category: string) => rows.filter((row) => row.category === category).length;
    await context.recordRead({ patientId, what: wanted.map((category) => `health_records: ${category} (${count(category)})`) });
    return Object.fromEntries(
      wanted.map((category) => [category, rows.filter((row) => row.category === category).map((row) => context.cipher.decryptJson(row.data))]),
    );
  },
});
