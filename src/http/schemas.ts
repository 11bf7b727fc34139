import { Type } from 'typebox';

/** Shapes shared by several features' routes. */
export const Uuid = Type.String({ format: 'uuid', description: 'UUID' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 UTC, e.g. 2025-11-15T12:00:00Z' });

export const ErrorBody = Type.Object(
  {
    detail: Type.String(),
    code: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    retry_after: Type.Optional(Type.Number()),
  },
  { description: 'Every error answer' },
);

export const MessageBody = Type.Object({ message: Type.String() });

export const GroupIdParams = Type.Object({ id: Uuid });

/** The error answers a route can give, by status, for the OpenAPI document. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}
