import { ERRORS, type ErrorCode } from './catalogue.js';

export interface FieldError {
  field: string;
  message: string;
}

/**
 * An expected failure with a code from the catalogue. Its message is safe to show to a
 * client; anything that is not an AppError is internal and never shown.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, detail?: string, extra: { errors?: FieldError[]; retryAfterSeconds?: number } = {}) {
    super(detail ?? ERRORS[code].detail);
    this.name = 'AppError';
    this.code = code;
    this.errors = extra.errors;
    this.retryAfterSeconds = extra.retryAfterSeconds;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export const validationError = (field: string, message: string): AppError =>
  new AppError('validation_error', `${field}: ${message}`, { errors: [{ field, message }] });
