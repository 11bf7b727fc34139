import { Type, type Static } from 'typebox';
import { Timestamp, Uuid } from '../http/schemas.js';

export const MAX_MEMBERS_MIN = 2;
export const MAX_MEMBERS_MAX = 50;

export const Group = Type.Object({
  id: Uuid,
  event_id: Uuid,
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  max_members: Type.Integer(),
  member_count: Type.Integer(),
  is_full: Type.Boolean(),
  is_private: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Group = Static<typeof Group>;

export const NAME_MAX_LENGTH = 100;
// The upper bound applies after trimming, so the service checks it (padding around 100 characters is fine).
const Name = Type.String({ minLength: 1, description: `1–${NAME_MAX_LENGTH} characters after trimming` });
const Description = Type.Union([Type.String({ maxLength: 500 }), Type.Null()]);
const MaxMembers = Type.Integer({ minimum: MAX_MEMBERS_MIN, maximum: MAX_MEMBERS_MAX });

export const CreateGroupBody = Type.Object({
  event_id: Uuid,
  name: Name,
  description: Type.Optional(Description),
  max_members: Type.Optional({ ...MaxMembers, default: 10 }),
  is_private: Type.Optional(Type.Boolean({ default: false })),
});
export type CreateGroupBody = Static<typeof CreateGroupBody>;

export const UpdateGroupBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    max_members: Type.Optional(MaxMembers),
    is_private: Type.Optional(Type.Boolean()),
  },
  { description: 'Only the fields given change' },
);
export type UpdateGroupBody = Static<typeof UpdateGroupBody>;

export const ListGroupsQuery = Type.Object({
  event_id: Type.Optional(Uuid),
  mine: Type.Optional(Type.Boolean({ default: false })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
});
export type ListGroupsQuery = Static<typeof ListGroupsQuery>;

export const GroupList = Type.Object({ groups: Type.Array(Group), total: Type.Integer() });
