CREATE TABLE "admin_actions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"action" text NOT NULL,
	"queue" text,
	"job_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"filter" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"affected" integer DEFAULT 0 NOT NULL,
	"actor_ip" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "appointment_slots" (
	"id" text PRIMARY KEY NOT NULL,
	"provider_id" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "appointments" (
	"id" text PRIMARY KEY NOT NULL,
	"patient_id" text NOT NULL,
	"slot_id" text NOT NULL,
	"status" text DEFAULT 'booked' NOT NULL,
	"reason" text,
	"session_id" text,
	"replaces_appointment_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "health_records" (
	"id" text PRIMARY KEY NOT NULL,
	"patient_id" text NOT NULL,
	"category" text NOT NULL,
	"data" text NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"notification_id" bigint NOT NULL,
	"endpoint" text NOT NULL,
	"attempt" integer NOT NULL,
	"status_code" integer,
	"latency_ms" integer NOT NULL,
	"error" text,
	"outcome" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification_endpoints" (
	"url" text PRIMARY KEY NOT NULL,
	"disabled_at" timestamp with time zone,
	"disabled_reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification_outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"patient_id" text,
	"type" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"data" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"dispatched_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"id" text PRIMARY KEY NOT NULL,
	"patient_id" text NOT NULL,
	"kind" text NOT NULL,
	"description" text NOT NULL,
	"status" text NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "providers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"specialty" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tool_calls" (
	"id" text PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"tool_call_id" text NOT NULL,
	"name" text NOT NULL,
	"arguments" text NOT NULL,
	"result" text,
	"status" text NOT NULL,
	"error" text,
	"duration_ms" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "vapi_sessions" RENAME COLUMN "summary" TO "transcript_summary";--> statement-breakpoint
ALTER TABLE "session_events" ADD COLUMN "dispatched_at" timestamp with time zone;--> statement-breakpoint
-- Rows written before the outbox dispatcher existed were published after their commit already.
UPDATE "session_events" SET "dispatched_at" = "created_at";--> statement-breakpoint
ALTER TABLE "appointment_slots" ADD CONSTRAINT "appointment_slots_provider_id_providers_id_fk" FOREIGN KEY ("provider_id") REFERENCES "public"."providers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "appointments" ADD CONSTRAINT "appointments_slot_id_appointment_slots_id_fk" FOREIGN KEY ("slot_id") REFERENCES "public"."appointment_slots"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "admin_actions_created_at_index" ON "admin_actions" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "appointment_slots_starts_at_index" ON "appointment_slots" USING btree ("starts_at");--> statement-breakpoint
CREATE INDEX "appointment_slots_provider_id_starts_at_index" ON "appointment_slots" USING btree ("provider_id","starts_at");--> statement-breakpoint
CREATE UNIQUE INDEX "appointments_one_active_per_slot" ON "appointments" USING btree ("slot_id") WHERE "appointments"."status" = 'booked';--> statement-breakpoint
CREATE INDEX "appointments_patient_id_status_index" ON "appointments" USING btree ("patient_id","status");--> statement-breakpoint
CREATE INDEX "health_records_patient_id_category_recorded_at_index" ON "health_records" USING btree ("patient_id","category","recorded_at");--> statement-breakpoint
CREATE INDEX "notification_attempts_notification_id_index" ON "notification_attempts" USING btree ("notification_id");--> statement-breakpoint
CREATE INDEX "notification_attempts_endpoint_created_at_index" ON "notification_attempts" USING btree ("endpoint","created_at");--> statement-breakpoint
CREATE INDEX "notification_outbox_undispatched_idx" ON "notification_outbox" USING btree ("id") WHERE "notification_outbox"."dispatched_at" is null;--> statement-breakpoint
CREATE INDEX "orders_patient_id_kind_updated_at_index" ON "orders" USING btree ("patient_id","kind","updated_at");--> statement-breakpoint
CREATE INDEX "tool_calls_session_id_created_at_index" ON "tool_calls" USING btree ("session_id","created_at");--> statement-breakpoint
CREATE INDEX "tool_calls_status_created_at_index" ON "tool_calls" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "session_events_undispatched_idx" ON "session_events" USING btree ("id") WHERE "session_events"."dispatched_at" is null;