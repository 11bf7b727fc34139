/**
 * What the contract adds: per-group gapless seq (groups.last_seq is the counter, bumped
 * in the transaction that inserts the message), idempotent client ids, display names,
 * and the development signing key shared by replicas.
 */
export default `
ALTER TABLE groups ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL;
ALTER TABLE messages ADD COLUMN username TEXT NOT NULL;
ALTER TABLE messages ADD COLUMN client_id VARCHAR(64);
ALTER TABLE messages ADD CONSTRAINT messages_group_seq_key UNIQUE (group_id, seq);
CREATE UNIQUE INDEX messages_client_id_key ON messages (group_id, sender_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX idx_messages_group_sender_seq ON messages (group_id, sender_id, seq);

CREATE INDEX idx_members_group_joined ON group_members (group_id, joined_at);

CREATE TABLE users (
    id UUID PRIMARY KEY,
    username TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE dev_signing_keys (
    id TEXT PRIMARY KEY,
    private_jwk JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
`;
