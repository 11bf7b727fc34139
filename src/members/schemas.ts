import { Type, type Static } from 'typebox';
import { Timestamp, Uuid } from '../http/schemas.js';

export const Member = Type.Object({
  user_id: Uuid,
  username: Type.String(),
  joined_at: Timestamp,
  is_admin: Type.Boolean(),
});
export type Member = Static<typeof Member>;

export const MemberList = Type.Object({ members: Type.Array(Member), total: Type.Integer() });

export const AddMemberBody = Type.Object({ user_id: Uuid });
export type AddMemberBody = Static<typeof AddMemberBody>;

export const PatchMemberBody = Type.Object({ is_admin: Type.Boolean() });
export type PatchMemberBody = Static<typeof PatchMemberBody>;

export const MemberParams = Type.Object({ id: Uuid, user_id: Uuid });
