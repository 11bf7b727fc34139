import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../errors/app-error.js';

/**
 * Verifies bearer tokens the way Keycloak's are meant to be verified: signature against
 * the realm's keys, asymmetric algorithms only, exact issuer, azp or aud naming our
 * client, exp/nbf with bounded leeway, and a UUID subject. A verified token is cached
 * until it expires and found again only by its exact text (a changed byte is a miss), so a
 * busy client costs one signature check per token, not per request.
 */
export interface AuthUser {
  readonly userId: string;
  readonly username: string;
  /** Epoch milliseconds after which the token is no longer accepted (exp + leeway). */
  readonly expiresAtMs: number;
}

export interface TokenVerifier {
  verify(token: string): Promise<AuthUser>;
  /**
   * The user of a token already verified and not expired, without waiting (the hot path of
   * every authenticated request); undefined otherwise — then verify() decides.
   */
  cached(token: string): AuthUser | undefined;
}

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const CLOCK_LEEWAY_SECONDS = 30;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CACHE_LIMIT = 10_000;
/**
 * Cache entries are keyed by the token's last characters (part of its signature) and hold
 * the whole token, compared in full on every hit: hashing a short key instead of the whole
 * token (hundreds of characters, a new string per request) keeps a hit cheap. A token with
 * the same tail as a cached one but any other byte is a miss, and goes to full verification.
 */
const KEY_CHARS = 32;
const cacheKey = (token: string) => (token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token);

interface CacheEntry {
  readonly token: string;
  readonly user: AuthUser;
}

export interface VerifierOptions {
  keys: JWTVerifyGetKey;
  issuer: string;
  clientId: string;
  /** Called once per newly verified token, e.g. to remember the display name. */
  onVerified?: (user: AuthUser) => Promise<void>;
  now?: () => number;
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const now = options.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();

  function remember(token: string, user: AuthUser): void {
    if (cache.size >= CACHE_LIMIT) {
      for (const [key, entry] of cache) {
        if (entry.user.expiresAtMs <= now() || cache.size >= CACHE_LIMIT) cache.delete(key);
        if (cache.size < CACHE_LIMIT * 0.9) break;
      }
    }
    cache.set(cacheKey(token), { token, user });
  }

  function lookup(token: string): CacheEntry | undefined {
    const entry = cache.get(cacheKey(token));
    return entry !== undefined && entry.token === token ? entry : undefined;
  }

  return {
    cached(token: string): AuthUser | undefined {
      const entry = lookup(token);
      return entry !== undefined && entry.user.expiresAtMs > now() ? entry.user : undefined;
    },
    async verify(token: string): Promise<AuthUser> {
      const entry = lookup(token);
      if (entry) {
        if (entry.user.expiresAtMs > now()) return entry.user;
        cache.delete(cacheKey(token));
        throw new AppError('unauthenticated', 'Token has expired');
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, options.keys, {
          issuer: options.issuer,
          algorithms: ASYMMETRIC_ALGORITHMS,
          clockTolerance: CLOCK_LEEWAY_SECONDS,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(now()),
        }));
      } catch (err) {
        // The key set's own verdict (keys unreachable: 503) is not the token's fault.
        if (err instanceof AppError) throw err;
        throw new AppError('unauthenticated', describeJoseError(err));
      }
      const user = toUser(payload, options.clientId);
      await options.onVerified?.(user);
      remember(token, user);
      return user;
    },
  };
}

function toUser(payload: JWTPayload, clientId: string): AuthUser {
  const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (payload.azp !== clientId && !aud.includes(clientId)) {
    throw new AppError('unauthenticated', 'Token was not issued for this client');
  }
  const sub = payload.sub;
  if (typeof sub !== 'string' || !UUID_RE.test(sub)) throw new AppError('unauthenticated', 'Token subject is not a UUID');
  const pick = (claim: unknown) => (typeof claim === 'string' && claim.trim() !== '' ? claim : undefined);
  return {
    userId: sub.toLowerCase(),
    username: pick(payload.preferred_username) ?? pick(payload.email) ?? sub,
    expiresAtMs: ((payload.exp as number) + CLOCK_LEEWAY_SECONDS) * 1000,
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'Token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `Token claim "${err.claim}" is invalid`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'Token algorithm is not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'Token was signed by an unknown key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'Token signature is invalid';
  return 'Token is invalid';
}
