import { checkAvailability } from './check-availability';
import type { ToolDefinition } from './define-tool';
import { getHealthRecords } from './get-health-records';
import { lookupOrder } from './lookup-order';
import { lookupPatientInfo } from './lookup-patient-info';
import { scheduleAppointment } from './schedule-appointment';

/** Every tool the assistant can call, by name. Adding a tool is one module and one line here. */
export const TOOLS: ReadonlyMap<string, ToolDefinition> = new Map(
  [lookupPatientInfo, checkAvailability, scheduleAppointment, getHealthRecords, lookupOrder].map((tool) => [tool.name, tool as ToolDefinition]),
);
