import { describe, expect, it } from 'vitest';
import { requestIdGenerator } from '../../src/http/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('are UUID-shaped and never repeat within a process', () => {
    const next = requestIdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = next();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(100_000);
  });

  it('count up in the last group, carrying across digits', () => {
    const next = requestIdGenerator();
    const a = next();
    const b = next();
    expect(a.slice(0, 24)).toBe(b.slice(0, 24));
    expect(parseInt(b.slice(24), 16) - parseInt(a.slice(24), 16)).toBe(1);
    let last = parseInt(b.slice(24), 16);
    for (let i = 0; i < 5_000; i++) {
      const value = parseInt(next().slice(24), 16);
      expect(value).toBe(last + 1);
      last = value;
    }
  });

  it('differ between processes (generators)', () => {
    expect(requestIdGenerator()().slice(0, 24)).not.toBe(requestIdGenerator()().slice(0, 24));
  });
});
