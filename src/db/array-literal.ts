/**
 * A PostgreSQL array literal (`{"a","b",NULL}`) for a parameter of type text[] or uuid[].
 *
 * `pg` encodes a JavaScript array parameter element by element with two regular-expression
 * replacements each: for the five arrays of a batch of sends that was 8 % of the service's
 * thread under load (bench profile). Most elements (ids, ordinary text) need no escaping,
 * which a substring search finds out; only a `"` or `\` is escaped, as the array input
 * syntax requires. Every element is quoted, so commas, braces, spaces and the word NULL
 * inside a value stay values.
 */
const NEEDS_ESCAPE = /[\\"]/g;

export function arrayLiteral(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) {
      out += 'NULL';
    } else if (value.includes('"') || value.includes('\\')) {
      out += `"${value.replace(NEEDS_ESCAPE, '\\$&')}"`;
    } else {
      out += `"${value}"`;
    }
  }
  return `${out}}`;
}
