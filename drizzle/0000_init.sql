CREATE TABLE "patients" (
	"id" text PRIMARY KEY NOT NULL,
	"first_name" text NOT NULL,
	"last_name" text NOT NULL,
	"date_of_birth" text NOT NULL,
	"phone_number" text,
	"phone_hash" text,
	"name_dob_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "session_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"data" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vapi_events" (
	"id" text PRIMARY KEY NOT NULL,
	"session_id" text,
	"type" text NOT NULL,
	"occurred_at" timestamp with time zone,
	"received_at" timestamp with time zone NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"payload" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vapi_messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"event_id" text NOT NULL,
	"role" text NOT NULL,
	"transcript" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "vapi_messages_role_check" CHECK ("vapi_messages"."role" in ('user', 'assistant', 'system'))
);
--> statement-breakpoint
CREATE TABLE "vapi_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"patient_id" text,
	"patient_verified" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"call_type" text,
	"assistant_id" text,
	"phone_number_id" text,
	"caller_hash" text,
	"ended_reason" text,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"summary" text,
	"key_insights" jsonb,
	"analysis" text,
	"recording_url" text,
	"cost" numeric(12, 4),
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"last_seq" integer DEFAULT 0 NOT NULL,
	"last_event_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "vapi_sessions_status_check" CHECK ("vapi_sessions"."status" in ('queued', 'ringing', 'in-progress', 'forwarding', 'ended', 'completed'))
);
--> statement-breakpoint
ALTER TABLE "session_events" ADD CONSTRAINT "session_events_session_id_vapi_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."vapi_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vapi_messages" ADD CONSTRAINT "vapi_messages_session_id_vapi_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."vapi_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vapi_sessions" ADD CONSTRAINT "vapi_sessions_patient_id_patients_id_fk" FOREIGN KEY ("patient_id") REFERENCES "public"."patients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "patients_phone_hash_index" ON "patients" USING btree ("phone_hash");--> statement-breakpoint
CREATE INDEX "patients_name_dob_hash_index" ON "patients" USING btree ("name_dob_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "session_events_session_id_seq_index" ON "session_events" USING btree ("session_id","seq");--> statement-breakpoint
CREATE INDEX "vapi_events_session_id_occurred_at_index" ON "vapi_events" USING btree ("session_id","occurred_at");--> statement-breakpoint
CREATE INDEX "vapi_events_type_processed_at_index" ON "vapi_events" USING btree ("type","processed_at");--> statement-breakpoint
CREATE UNIQUE INDEX "vapi_messages_event_id_index" ON "vapi_messages" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "vapi_messages_session_id_timestamp_index" ON "vapi_messages" USING btree ("session_id","timestamp");--> statement-breakpoint
CREATE INDEX "vapi_sessions_patient_id_created_at_index" ON "vapi_sessions" USING btree ("patient_id","created_at");--> statement-breakpoint
CREATE INDEX "vapi_sessions_caller_hash_index" ON "vapi_sessions" USING btree ("caller_hash");