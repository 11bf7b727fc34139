import { randomUUID } from 'node:crypto';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const COUNTER_DIGITS = 12;

/**
 * Request ids for requests that bring none: UUID-shaped (36 characters, a random v4 UUID
 * per process whose last group counts up from a random start), so they are unique within
 * the process and, with 74 random bits left, across processes and restarts. Cheaper than
 * a random UUID per request: no random bytes, and the id is written once into a flat
 * string (a UUID built by concatenation must be flattened again when the x-request-id
 * header is validated).
 */
export function requestIdGenerator(): () => string {
  const id = Buffer.from(randomUUID(), 'latin1');
  let counter = Math.floor(Math.random() * 2 ** 40);
  return () => {
    counter = (counter + 1) % 2 ** 48;
    let n = counter;
    for (let i = id.length - 1; i >= id.length - COUNTER_DIGITS; i--) {
      id[i] = HEX[n % 16]!;
      n = Math.floor(n / 16);
    }
    return id.toString('latin1');
  };
}
