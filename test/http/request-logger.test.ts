import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LazyRequestLogger, requestLoggerFactory } from '../../src/http/logger.js';

/**
 * Request loggers are made lazily (a pino child only when a request logs at an enabled
 * level): what they write must be exactly what an eager child writes.
 */
function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        // The time differs, and so does an error's stack (called from two places).
        const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>;
        if (rest.err) rest.err = { ...(rest.err as object), stack: undefined };
        lines.push(rest);
      }
      done();
    },
  });
  const logger = pino({ level, redact: { paths: ['req.headers.authorization'], censor: '[redacted]' } }, stream);
  return { logger, lines };
}

type Log = (...args: unknown[]) => void;
function exercise(log: { [k: string]: unknown }) {
  (log.info as Log)({ req: { headers: { authorization: 'Bearer secret' } } }, 'incoming request');
  (log.debug as Log)('not shown');
  (log.warn as Log)({ code: 'x' }, 'request refused');
  (log.error as Log)(new Error('boom'), 'request failed');
  (log.info as Log)('request %s', 'completed');
  const child = (log.child as (b: object) => { warn: Log })({ extra: 1 });
  child.warn('from a child');
}

describe('request loggers', () => {
  for (const level of ['trace', 'info', 'warn', 'error', 'silent']) {
    it(`write the same lines as an eager pino child at level ${level}`, () => {
      const eager = capture(level);
      const lazy = capture(level);
      exercise(eager.logger.child({ reqId: 'r-1' }) as unknown as { [k: string]: unknown });
      exercise(requestLoggerFactory(lazy.logger, { reqId: 'r-1' }, {}) as unknown as { [k: string]: unknown });
      expect(lazy.lines).toEqual(eager.lines);
      if (level !== 'silent') expect(lazy.lines.every((l) => l.reqId === 'r-1')).toBe(true);
      expect(JSON.stringify(lazy.lines)).not.toContain('secret');
    });
  }

  it('make no pino child for a request that logs nothing at an enabled level', () => {
    const { logger } = capture('warn');
    let children = 0;
    const parent = new Proxy(logger, {
      get(target, prop, receiver) {
        if (prop === 'child') {
          return (...args: Parameters<typeof logger.child>) => {
            children += 1;
            return target.child(...args);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const log = new LazyRequestLogger(parent, { reqId: 'r-2' });
    log.info('incoming request');
    log.debug('x');
    log.info('request completed');
    expect(children).toBe(0);
    expect(log.level).toBe('warn');
    expect(log.isLevelEnabled('info')).toBe(false);
    log.warn('now');
    log.error('again');
    expect(children).toBe(1);
  });

  it('give a route that sets its own level an eager child with it', () => {
    const { logger, lines } = capture('warn');
    const log = requestLoggerFactory(logger, { reqId: 'r-3' }, { level: 'debug' });
    log.debug('shown');
    expect(lines).toEqual([expect.objectContaining({ reqId: 'r-3', msg: 'shown', level: 20 })]);
  });
});
