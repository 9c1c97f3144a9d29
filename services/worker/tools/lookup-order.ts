import { and, desc, eq, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { orders } from '#shared/db/schema';
import { defineTool, ToolRefusal, verifiedPatient } from './define-tool.ts';

/** The verified patient's prescription refills and lab orders, or one of them by id. */
export const lookupOrder = defineTool({
  name: 'lookup_order',
  description: "Look up the verified caller's prescription refills and lab orders (kind), or one order by orderId.",
  parameters: z.object({
    orderId: z.string().min(1).max(128).optional(),
    kind: z.enum(['prescription', 'lab', 'all']).default('all'),
  }),
  async handler(args, context) {
    const patientId = verifiedPatient(context);
    const conditions: SQL[] = [eq(orders.patientId, patientId)];
    if (args.orderId) conditions.push(eq(orders.id, args.orderId));
    if (args.kind !== 'all') conditions.push(eq(orders.kind, args.kind));
    const rows = await context.db
      .select()
      .from(orders)
      .where(and(...conditions))
      .orderBy(desc(orders.updatedAt))
      .limit(20);
    // The caller's order id is their words, not a record: it is not written down.
    await context.recordRead({
      patientId,
      what: [`orders: ${args.kind} (${rows.length})`, ...rows.map((row) => `orders/${row.id}`)],
      ...(args.orderId && rows.length === 0 ? { outcome: 'not-found' as const } : {}),
    });
    // Another patient's order id looks exactly like one that does not exist.
    if (args.orderId && rows.length === 0) throw new ToolRefusal('order unknown for this patient', 'I cannot find that order on your file.');
    return {
      orders: rows.map((row) => ({
        orderId: row.id,
        kind: row.kind,
        description: context.cipher.decrypt(row.description),
        status: row.status,
        updatedAt: row.updatedAt.toISOString(),
      })),
    };
  },
});
