import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../errors/app-error.js';

/**
 * The realm's signing keys, fetched over HTTP and cached.
 *
 * - One fetch at a time: concurrent callers share it.
 * - An unknown kid triggers one refetch (key rotation), at most once per `cooldownMs`
 *   counted from the previous unknown-kid refetch, not from the first load: a key added
 *   right after start-up is found at once, a flood of junk kids costs one fetch.
 * - Keys are refreshed after `maxAgeMs`; when that refresh fails the cached keys stay in
 *   use and the next attempt waits `cooldownMs`, so an identity-provider blip neither
 *   logs everyone out nor adds a fetch to every request.
 * - With no keys at all and the endpoint unreachable, verification answers 503: the
 *   token is not known to be bad.
 */
export interface RemoteKeySetOptions {
  cooldownMs: number;
  maxAgeMs: number;
  timeoutMs: number;
  now?: () => number;
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

export function createRemoteKeySet(url: URL, options: RemoteKeySetOptions): JWTVerifyGetKey {
  const now = options.now ?? Date.now;
  let local: LocalKeySet | undefined;
  let refreshDueAt = -Infinity;
  let inFlight: Promise<void> | undefined;
  let unknownKidRefetch: { at: number; done: Promise<void> } | undefined;

  async function fetchKeys(): Promise<void> {
    const response = await fetch(url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (response.status !== 200) throw new Error(`JWKS endpoint answered ${response.status}`);
    local = createLocalJWKSet((await response.json()) as JSONWebKeySet);
    refreshDueAt = now() + options.maxAgeMs;
  }

  /** Starts a fetch unless one is running; a failure becomes 503 for whoever awaits it. */
  function load(): Promise<void> {
    inFlight ??= fetchKeys()
      .catch(() => {
        refreshDueAt = now() + options.cooldownMs;
        throw new AppError('service_unavailable', 'Token keys could not be fetched');
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  return async (header, token) => {
    if (!local) await load();
    else if (now() >= refreshDueAt) await load().catch(() => {});
    try {
      return await local!(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      if (!unknownKidRefetch || now() - unknownKidRefetch.at >= options.cooldownMs) {
        unknownKidRefetch = { at: now(), done: load() };
      }
      await unknownKidRefetch.done;
      return local!(header, token);
    }
  };
}
