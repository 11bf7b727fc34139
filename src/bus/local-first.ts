import type { BusEvent, ResyncSignal } from './bus.js';
import { decode, originPrefix } from './wire.js';

/**
 * What the PostgreSQL and Redis buses share: an event is handed to this replica's own
 * subscriber at once, by the publisher, and then sent through the transport for the other
 * replicas; the transport's echo of our own events is dropped. So members on the publishing
 * replica are served without a round trip, and keep being served (the sender's
 * acknowledgement included) while the transport is down; other replicas repair what they
 * missed from the database when it is back (seq gaps, `resync`).
 */
export class LocalFirst {
  private handler: ((event: BusEvent | ResyncSignal) => void) | undefined;
  private readonly echoPrefix: string;

  constructor(
    private readonly instanceId: string,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {
    this.echoPrefix = originPrefix(instanceId);
  }

  set(handler: (event: BusEvent | ResyncSignal) => void): void {
    this.handler = handler;
  }

  /** The publisher's own copy. A failing subscriber must not fail the publisher. */
  local(event: BusEvent | ResyncSignal): void {
    try {
      this.handler?.(event);
    } catch (err) {
      this.log.warn({ err }, 'bus: subscriber failed on an event');
    }
  }

  /** A payload from the transport (one envelope or a packed array): decoded, minus our own echo and what is unreadable. */
  remote(payload: string): void {
    // Every event of this replica comes back from the transport: recognised by its first
    // bytes, without parsing it (a packed payload holds the events of one replica).
    if (payload.startsWith(this.echoPrefix) || (payload.startsWith('[') && payload.startsWith(this.echoPrefix, 1))) return;
    for (const envelope of decode(payload)) {
      if (envelope.origin !== this.instanceId) this.local(envelope.event);
    }
  }
}
