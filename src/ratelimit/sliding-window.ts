/**
 * Sliding-window rate limit: a user may have at most RATE_LIMIT_MESSAGES accepted messages
 * in ANY window of RATE_LIMIT_WINDOW, across every group, socket, replica and the REST
 * route. Only stored messages count, so a refused or failed send never uses up the
 * allowance.
 *
 * The check runs inside the database, in the very statement that stores the batch of sends
 * (`chat_store_batch`, migrations 006 and 007), under the sender's lock: a sender's n-th message is
 * allowed exactly when their (n - limit)-th is not inside the window. That statement
 * answers how long until a refused send would be allowed; this turns it into the whole
 * seconds of `Retry-After` / `retry_after`.
 */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
