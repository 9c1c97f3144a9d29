import { checkAvailability } from './check-availability.ts';
import type { ToolDefinition } from './define-tool.ts';
import { getHealthRecords } from './get-health-records.ts';
import { lookupOrder } from './lookup-order.ts';
import { lookupPatientInfo } from './lookup-patient-info.ts';
import { scheduleAppointment } from './schedule-appointment.ts';

/** Every tool the assistant can call, by name. Adding a tool is one module and one line here. */
export const TOOLS: ReadonlyMap<string, ToolDefinition> = new Map(
  [lookupPatientInfo, checkAvailability, scheduleAppointment, getHealthRecords, lookupOrder].map((tool) => [tool.name, tool as ToolDefinition]),
);
