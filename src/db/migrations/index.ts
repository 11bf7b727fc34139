import initialSchema from './001_initial_schema.js';
import chatContract from './002_chat_contract.js';
import rateLimitIndex from './003_rate_limit_index.js';
import presence from './004_presence.js';
import memberCount from './005_member_count.js';
import storeBatchFunction from './006_store_batch_function.js';
import leanStoreBatch from './007_lean_store_batch.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Append only: a released migration is never edited, a change is a new one. */
export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial_schema', sql: initialSchema },
  { version: 2, name: 'chat_contract', sql: chatContract },
  { version: 3, name: 'rate_limit_index', sql: rateLimitIndex },
  { version: 4, name: 'presence', sql: presence },
  { version: 5, name: 'member_count', sql: memberCount },
  { version: 6, name: 'store_batch_function', sql: storeBatchFunction },
  { version: 7, name: 'lean_store_batch', sql: leanStoreBatch },
];
