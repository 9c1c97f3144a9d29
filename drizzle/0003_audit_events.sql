CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"patient_id" text,
	"session_id" text,
	"what" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"source" text NOT NULL,
	"outcome" text NOT NULL,
	CONSTRAINT "audit_events_actor_check" CHECK ("audit_events"."actor" in ('admin', 'patient', 'tool', 'system'))
);
--> statement-breakpoint
-- Hand-written: what operators did (admin_actions) moves to audit_events, its one home now.
INSERT INTO "audit_events" ("at", "actor", "action", "what", "source", "outcome")
SELECT
	"created_at",
	'admin',
	CASE "action" WHEN 'enable-endpoint' THEN 'endpoint.enable' ELSE 'dead-letter.' || "action" END,
	CASE WHEN "action" = 'enable-endpoint' THEN jsonb_build_array('notification endpoint ' || coalesce("filter"->>'url', 'unknown'))
		ELSE coalesce((SELECT jsonb_agg('dead letter ' || coalesce("queue" || '/', '') || "job_id") FROM jsonb_array_elements_text("job_ids") AS "job_id"), '[]'::jsonb) END,
	coalesce("actor_ip", 'unknown'),
	CASE WHEN "action" = 'enable-endpoint' AND "affected" = 0 THEN 'not-found' ELSE 'success' END
FROM "admin_actions"
ORDER BY "id";--> statement-breakpoint
DROP TABLE "admin_actions" CASCADE;--> statement-breakpoint
CREATE INDEX "audit_events_at_index" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_events_patient_id_at_index" ON "audit_events" USING btree ("patient_id","at");--> statement-breakpoint
CREATE INDEX "audit_events_session_id_at_index" ON "audit_events" USING btree ("session_id","at");