import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The relay's own figures on the service's registry (`/metrics`). */
export function createRelayMetrics(registry: Registry) {
  return {
    connections: new Gauge({ name: 'vapi_relay_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
    sent: new Counter({ name: 'vapi_relay_ws_messages_sent_total', help: 'Events sent to WebSocket clients', registers: [registry] }),
    sentBytes: new Counter({ name: 'vapi_relay_ws_bytes_sent_total', help: 'Bytes of the messages sent to WebSocket clients', registers: [registry] }),
    lag: new Histogram({
      name: 'vapi_relay_delivery_lag_seconds',
      help: "Time from an event's `at` to its live delivery to a client",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    closes: new Counter({
      name: 'vapi_relay_ws_closes_total',
      help: 'WebSocket connections closed, by close code',
      labelNames: ['code'],
      registers: [registry],
    }),
    replayQueries: new Counter({
      name: 'vapi_relay_replay_queries_total',
      help: 'Pages of stored events read from Postgres for replays and hole fills (concurrent reads of one page share one query)',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'vapi_relay_rate_limited_total',
      help: "Requests refused for a patient's or a socket's limits: upgrades past the sockets per patient, subscribes past the allowance, replays past those running",
      labelNames: ['limit'],
      registers: [registry],
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
