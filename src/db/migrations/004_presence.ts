/**
 * Presence shared by replicas: each replica heartbeats its row in chat_instances and
 * owns its rows in chat_presence; rows of a replica that stopped heartbeating are reaped.
 */
export default `
CREATE TABLE chat_instances (
    id UUID PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE chat_presence (
    group_id UUID NOT NULL,
    user_id UUID NOT NULL,
    instance_id UUID NOT NULL,
    username TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id, instance_id)
);
CREATE INDEX idx_chat_presence_instance ON chat_presence (instance_id);
`;
