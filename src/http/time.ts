/** The contract's timestamp form: ISO 8601 UTC with a trailing Z. */
export function isoTimestamp(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
