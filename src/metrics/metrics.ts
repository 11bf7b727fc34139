import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the service exports, with functions named for what happened. Labels
 * are bounded (route patterns, status codes, fixed reasons), never ids.
 */
export type RejectReason = 'rate_limited' | 'validation' | 'too_long' | 'save_failed' | 'not_member';

export interface Metrics {
  readonly registry: Registry;
  observeHttpRequest(method: string, route: string, status: number, seconds: number): void;
  markSocketOpened(): void;
  markSocketClosed(): void;
  markMessageAccepted(): void;
  markMessageRejected(reason: RejectReason): void;
  observeDeliveryLatency(seconds: number): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const http = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request durations by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const sockets = new Gauge({ name: 'chat_open_sockets', help: 'Open chat WebSocket connections', registers: [registry] });
  const accepted = new Counter({ name: 'chat_messages_accepted_total', help: 'Chat messages stored and acknowledged', registers: [registry] });
  const rejected = new Counter({
    name: 'chat_messages_rejected_total',
    help: 'Chat messages refused, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'chat_delivery_latency_seconds',
    help: 'From a send reaching the service to its frame being written to the receiving sockets',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  return {
    registry,
    observeHttpRequest: (method, route, status, seconds) => http.observe({ method, route, status: String(status) }, seconds),
    markSocketOpened: () => sockets.inc(),
    markSocketClosed: () => sockets.dec(),
    markMessageAccepted: () => accepted.inc(),
    markMessageRejected: (reason) => rejected.inc({ reason }),
    observeDeliveryLatency: (seconds) => latency.observe(seconds),
  };
}
