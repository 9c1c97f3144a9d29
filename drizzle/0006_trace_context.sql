-- The trace context (W3C traceparent, tracestate) of the transaction that wrote each outbox row, so the
-- dispatch that publishes or delivers it joins the event's trace. Null when tracing is off.
ALTER TABLE "session_events" ADD COLUMN "trace_context" jsonb;
--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD COLUMN "trace_context" jsonb;
