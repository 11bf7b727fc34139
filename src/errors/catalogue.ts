/**
 * Every error a client can see, in one table: its HTTP status, its WebSocket error-frame
 * code and, where the error ends a chat session, its close code. Transports look codes
 * up here and nowhere else.
 */
export const ERRORS = {
  malformed_json: { status: 400, detail: 'Request body is not valid JSON', ws: 'PARSE_ERROR' },
  bad_request: { status: 400, detail: 'Bad request', ws: 'VALIDATION_ERROR' },
  unauthenticated: { status: 401, detail: 'Not authenticated', ws: 'INTERNAL_ERROR', close: 4401 },
  forbidden: { status: 403, detail: 'Forbidden', ws: 'INTERNAL_ERROR', close: 4403 },
  not_admin: { status: 403, detail: 'Only group admins may do this', ws: 'INTERNAL_ERROR' },
  not_member: { status: 403, detail: 'You are not a member of this group', ws: 'INTERNAL_ERROR', close: 4403 },
  group_private: { status: 403, detail: 'This group is private: an admin must add you', ws: 'INTERNAL_ERROR' },
  not_found: { status: 404, detail: 'Not found', ws: 'INTERNAL_ERROR' },
  group_not_found: { status: 404, detail: 'Group not found', ws: 'INTERNAL_ERROR', close: 4404 },
  member_not_found: { status: 404, detail: 'Not a member of this group', ws: 'INTERNAL_ERROR' },
  already_member: { status: 409, detail: 'Already a member of this group', ws: 'INTERNAL_ERROR' },
  group_full: { status: 409, detail: 'Group is full', ws: 'INTERNAL_ERROR' },
  last_admin: { status: 409, detail: 'A group must keep at least one admin', ws: 'INTERNAL_ERROR' },
  max_members_below_count: { status: 409, detail: 'max_members is below the current member count', ws: 'INTERNAL_ERROR' },
  payload_too_large: { status: 413, detail: 'Request body is too large', ws: 'VALIDATION_ERROR' },
  unsupported_media_type: { status: 415, detail: 'Content-Type must be application/json', ws: 'VALIDATION_ERROR' },
  validation_error: { status: 422, detail: 'Validation failed', ws: 'VALIDATION_ERROR' },
  message_too_long: { status: 422, detail: 'Message is too long', ws: 'MESSAGE_TOO_LONG' },
  rate_limited: { status: 429, detail: 'Too many messages', ws: 'RATE_LIMIT_EXCEEDED' },
  message_save_failed: { status: 503, detail: 'The message could not be saved', ws: 'MESSAGE_SAVE_FAILED' },
  service_unavailable: { status: 503, detail: 'A dependency is unavailable', ws: 'INTERNAL_ERROR', close: 1011 },
  internal_error: { status: 500, detail: 'Internal server error', ws: 'INTERNAL_ERROR', close: 1011 },
} as const satisfies Record<string, { status: number; detail: string; ws: string; close?: number }>;

export type ErrorCode = keyof typeof ERRORS;

/** WebSocket close codes of the contract. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  unauthenticated: 4401,
  forbidden: 4403,
  notFound: 4404,
} as const;

export function closeCodeFor(code: ErrorCode): number {
  const entry = ERRORS[code] as { close?: number };
  return entry.close ?? CloseCode.internalError;
}
