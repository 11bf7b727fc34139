import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FormatsPlugin } from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { createRequire } from 'node:module';

// ajv-formats is CommonJS whose default export ESM interop does not unwrap.
const addFormats = createRequire(import.meta.url)('ajv-formats') as FormatsPlugin;

/**
 * Bodies and WebSocket frames are validated strictly (a number is not a string);
 * query strings and path parameters arrive as text, so they are coerced.
 */
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ coerceTypes: coerce ? 'array' : false, useDefaults: true, removeAdditional: true, allErrors: true, strict: false });
  addFormats(ajv);
  // ajv-formats' uuid also takes a `urn:uuid:` prefix, which PostgreSQL's uuid type refuses (a 500 for bad input).
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  return ajv;
}

export const strictAjv = makeAjv(false);
const coercingAjv = makeAjv(true);

export function compileStrict<T>(schema: object): ValidateFunction<T> {
  return strictAjv.compile<T>(schema);
}

/**
 * The JSON pointer of the first string holding NUL, which PostgreSQL text cannot store.
 * Iterative, so a deeply nested body cannot exhaust the stack.
 */
export function findNulCharacter(data: unknown): string | undefined {
  const pending: [unknown, string][] = [[data, '']];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [value, path] = item;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path;
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) pending.push([child, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`]);
    }
  }
  return undefined;
}

/**
 * Whether any string in `data` holds NUL, the same strings findNulCharacter looks at; also
 * iterative, and without allocating for a flat request part (path parameters, most bodies).
 */
function hasNulCharacter(data: unknown): boolean {
  let nested: object[] | undefined;
  for (let value: unknown = data; ; value = nested?.pop()) {
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return true;
    } else if (value !== null && typeof value === 'object') {
      for (const child of Object.values(value)) {
        if (typeof child === 'string') {
          if (child.includes('\u0000')) return true;
        } else if (child !== null && typeof child === 'object') {
          (nested ??= []).push(child);
        }
      }
    }
    if (!nested?.length) return false;
  }
}

/** Schema validation, then one rule for every request part: no NUL characters. */
function withoutNul(validate: ValidateFunction) {
  const check = (data: unknown): boolean => {
    if (!validate(data)) {
      check.errors = validate.errors;
      return false;
    }
    if (!hasNulCharacter(data)) {
      check.errors = null;
      return true;
    }
    const at = findNulCharacter(data);
    check.errors = at === undefined ? null : [{ instancePath: at, message: 'must not contain NUL characters', keyword: 'nul', params: {}, schemaPath: '#' }];
    return at === undefined;
  };
  check.errors = null as ErrorObject[] | null | undefined;
  return check;
}

export function registerValidators(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => withoutNul((httpPart === 'body' ? strictAjv : coercingAjv).compile(schema)));
  // The API speaks JSON only: a text/plain body is refused with 415 like any other type.
  app.removeContentTypeParser('text/plain');
  // Many clients send `Content-Type: application/json` on every request, bodies or not: an
  // empty body is "no body" (routes that need one answer 422), malformed JSON stays 400.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
