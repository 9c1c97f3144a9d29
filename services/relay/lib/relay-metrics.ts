import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The relay's own figures on the service's registry (`/metrics`). */
export function createRelayMetrics(registry: Registry) {
  return {
    connections: new Gauge({ name: 'vapi_relay_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
    sent: new Counter({ name: 'vapi_relay_ws_messages_sent_total', help: 'Events sent to WebSocket clients', registers: [registry] }),
    lag: new Histogram({
      name: 'vapi_relay_delivery_lag_seconds',
      help: "Time from an event's `at` to its live delivery to a client",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    closes: new Counter({ name: 'vapi_relay_ws_closes_total', help: 'WebSocket connections closed, by close code', labelNames: ['code'], registers: [registry] }),
    replayQueries: new Counter({
      name: 'vapi_relay_replay_queries_total',
      help: 'Replays read from Postgres (concurrent replays of one session share one read)',
      registers: [registry],
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
