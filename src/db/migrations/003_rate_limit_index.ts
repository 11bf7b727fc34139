/** The rate limit counts a sender's recent messages across every group. */
export default `
CREATE INDEX idx_messages_sender_time ON messages (sender_id, sent_at DESC);
`;
