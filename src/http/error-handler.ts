import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isUnavailableError } from '../db/database.js';
import { AppError, type FieldError } from '../errors/app-error.js';
import type { ErrorCode } from '../errors/catalogue.js';

/**
 * The one place where failures become HTTP answers: `{detail, code}` (+ `errors` for
 * validation, `Retry-After` for rate limits). Internal errors are logged with their
 * context and answered with a generic 500; their message never leaves the process.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError | Error, request, reply) => {
    const appError = toAppError(err);
    if (appError.status >= 500) {
      request.log.error({ err }, 'request failed');
    } else {
      request.log.info({ code: appError.code, detail: appError.message }, 'request refused');
    }
    return sendError(reply, appError);
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('not_found', `Route ${request.method} ${request.url.split('?')[0]} not found`)));
}

/**
 * Errors Fastify raises before routing (a path that cannot be percent-decoded, an
 * over-long path parameter) get the same shape as every other error.
 */
export function handleFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const appError =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new AppError('validation_error', 'params: a path parameter is too long', { errors: [{ field: 'params', message: 'is too long' }] })
      : err.code === 'FST_ERR_BAD_URL'
        ? new AppError('bad_request', 'Request path is not valid')
        : toAppError(err);
  request.log.info({ code: appError.code, detail: appError.message }, 'request refused');
  // These replies bypass the application's hooks, so the request id is echoed here.
  reply.header('x-request-id', request.id);
  void sendError(reply, appError);
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  if (error.code === 'unauthenticated') reply.header('WWW-Authenticate', 'Bearer');
  if (error.retryAfterSeconds !== undefined) reply.header('Retry-After', String(error.retryAfterSeconds));
  const body: { detail: string; code: ErrorCode; errors?: FieldError[]; retry_after?: number } = { detail: error.message, code: error.code };
  if (error.errors) body.errors = error.errors;
  if (error.retryAfterSeconds !== undefined) body.retry_after = error.retryAfterSeconds;
  return reply.status(error.status).send(body);
}

function toAppError(err: FastifyError | AppError | Error): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const errors = fe.validation.map((v) => ({
      field: fieldName(fe.validationContext, v.instancePath, v.params as Record<string, unknown>),
      message: v.message ?? 'is invalid',
    }));
    const summary = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return new AppError('validation_error', summary, { errors });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('malformed_json', fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'Request body is empty' : undefined);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('unsupported_media_type');
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return new AppError('malformed_json');
  if (isUnavailableError(err)) return new AppError('service_unavailable', 'The database is unavailable');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError('bad_request', fe.message);
  }
  return new AppError('internal_error');
}

function fieldName(context: string | undefined, instancePath: string, params: Record<string, unknown>): string {
  const path = instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = typeof params.missingProperty === 'string' ? params.missingProperty : undefined;
  const extra = typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
  const leaf = [path, missing ?? extra].filter(Boolean).join('.');
  const where = context === 'querystring' ? 'query' : context ?? 'body';
  return leaf ? `${where}.${leaf}` : where;
}
