/** The original schema, with timestamps in UTC (timestamptz). */
export default `
CREATE TABLE groups (
    id UUID PRIMARY KEY,
    event_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    max_members INTEGER NOT NULL DEFAULT 10,
    is_private BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id UUID NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    is_admin BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE messages (
    id UUID PRIMARY KEY,
    group_id UUID NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    sender_id UUID NOT NULL,
    content TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_groups_event ON groups(event_id);
CREATE INDEX idx_members_user ON group_members(user_id);
CREATE INDEX idx_messages_group_time ON messages(group_id, sent_at DESC);
`;
