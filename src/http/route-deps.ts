import type { Database } from '../db/database.js';
import type { GroupEventSink } from '../events/group-events.js';
import type { PostMessageDeps } from '../messages/post-message.js';
import type { Authenticate } from './authenticate.js';

/** What every feature's routes receive: no module reaches for a global. */
export interface RouteDeps {
  db: Database;
  events: GroupEventSink;
  authenticate: Authenticate;
  messages: PostMessageDeps;
}
