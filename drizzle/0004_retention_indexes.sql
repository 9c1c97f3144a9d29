ALTER TABLE "vapi_events" ALTER COLUMN "payload" DROP NOT NULL;--> statement-breakpoint
CREATE INDEX "notification_attempts_created_at_index" ON "notification_attempts" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "notification_outbox_dispatched_idx" ON "notification_outbox" USING btree ("created_at") WHERE "notification_outbox"."dispatched_at" is not null;--> statement-breakpoint
CREATE INDEX "notification_outbox_session_id_index" ON "notification_outbox" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "session_events_dispatched_idx" ON "session_events" USING btree ("created_at") WHERE "session_events"."dispatched_at" is not null;--> statement-breakpoint
CREATE INDEX "vapi_events_payload_kept_idx" ON "vapi_events" USING btree ("received_at") WHERE "vapi_events"."payload" is not null;--> statement-breakpoint
CREATE INDEX "vapi_sessions_ended_idx" ON "vapi_sessions" USING btree ("ended_at") WHERE "vapi_sessions"."status" in ('ended', 'completed');