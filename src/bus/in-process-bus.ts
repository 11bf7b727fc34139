import type { Bus, BusEvent, ResyncSignal } from './bus.js';

/** A single process: delivery is a function call, so nothing can be lost or reordered. */
export function createInProcessBus(): Bus {
  const handlers: ((event: BusEvent | ResyncSignal) => void)[] = [];
  return {
    kind: 'in-process',
    async publish(event) {
      for (const handler of handlers) handler(event);
    },
    async subscribe(handler) {
      handlers.push(handler);
    },
    async watch() {},
    unwatch() {},
    async check() {},
    async close() {
      handlers.length = 0;
    },
  };
}
