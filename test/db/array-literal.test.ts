import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../src/db/array-literal.js';
import type { Database } from '../../src/db/database.js';
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js';
import { connectServerDatabase } from '../../src/db/server-database.js';

/**
 * The batch of sends reaches chat_store_batch as array literals built by arrayLiteral: what
 * PostgreSQL reads back must be exactly the values, for any text (quotes, backslashes,
 * braces, commas, the word NULL, whitespace, non-ASCII) and for nulls, on the engine the
 * suite runs against.
 */
let db: Database;

beforeAll(async () => {
  db = process.env.TEST_DATABASE_URL ? connectServerDatabase(process.env.TEST_DATABASE_URL) : await openEmbeddedDatabase('memory://');
}, 60_000);

afterAll(async () => {
  await db?.close();
});

async function roundTrip(values: (string | null)[]): Promise<(string | null)[]> {
  const { rows } = await db.query<{ a: (string | null)[] }>('SELECT $1::text[] AS a', [arrayLiteral(values)]);
  return rows[0]!.a;
}

describe('arrayLiteral', () => {
  it('keeps values that look like array syntax as values', async () => {
    const tricky = ['NULL', 'null', '', ' ', '"', '\\', '\\"', '{}', '{a,b}', 'a,b', ' lead', 'trail ', 'quo"te', 'back\\slash', 'ünïcødé 🎉', '\t\n'];
    expect(await roundTrip([...tricky, null])).toEqual([...tricky, null]);
  });

  it('round-trips any text without NUL, and nulls', async () => {
    const element = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: fc.constantFrom('"', '\\', ',', '{', '}', ' ', 'N', 'U', 'L', 'x'), maxLength: 12 }), fc.constant(null));
    await fc.assert(
      fc.asyncProperty(fc.array(element, { maxLength: 12 }), async (values) => {
        expect(await roundTrip(values)).toEqual(values);
      }),
      { numRuns: 200 },
    );
  });

  it('casts to uuid[] for ids', async () => {
    const ids = ['0b9f6a8e-4c1d-4e1a-9a7e-3f2b1c0d9e8f', '11111111-2222-4333-8444-555555555555'];
    const { rows } = await db.query<{ a: string[] }>('SELECT $1::uuid[]::text[] AS a', [arrayLiteral(ids)]);
    expect(rows[0]!.a).toEqual(ids);
  });
});
