import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { v5 as uuidv5 } from 'uuid';
import type { Database } from '../db/database.js';
import { createTokenVerifier, type TokenVerifier, type VerifierOptions } from './token-verifier.js';

/**
 * Development auth mode: the service is its own identity provider. It signs tokens with
 * an RSA key kept in the database (so replicas and restarts share it), publishes the
 * public half as a JWKS, and verifies its tokens with the very verifier used for
 * Keycloak: no code path skips signature, issuer, audience or expiry checks.
 */
const USER_NAMESPACE = '3f0c8a52-6d1e-4c5b-9a57-0c2b8e1d4f60';
const KEY_ID = 'dev-1';
const TOKEN_LIFETIME_SECONDS = 12 * 3600;
const ALG = 'RS256';

export interface DevAuth {
  readonly verifier: TokenVerifier;
  readonly jwks: JSONWebKeySet;
  readonly issuer: string;
  issueToken(username: string): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; user_id: string }>;
}

export function devUserId(username: string): string {
  return uuidv5(username, USER_NAMESPACE);
}

async function loadOrCreateKey(db: Database): Promise<JWK> {
  const existing = await db.query<{ private_jwk: JWK }>('SELECT private_jwk FROM dev_signing_keys WHERE id = $1', [KEY_ID]);
  if (existing.rows[0]) return existing.rows[0].private_jwk;
  const { privateKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  // Replicas starting together may both generate a key; the first insert wins and all read it back.
  await db.query('INSERT INTO dev_signing_keys (id, private_jwk) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [KEY_ID, JSON.stringify(jwk)]);
  const stored = await db.query<{ private_jwk: JWK }>('SELECT private_jwk FROM dev_signing_keys WHERE id = $1', [KEY_ID]);
  return stored.rows[0]!.private_jwk;
}

export async function createDevAuth(
  db: Database,
  options: { realm: string; clientId: string; onVerified?: VerifierOptions['onVerified'] },
): Promise<DevAuth> {
  const privateJwk = await loadOrCreateKey(db);
  const privateKey = await importJWK(privateJwk, ALG);
  const { kty, n, e } = privateJwk;
  const jwks: JSONWebKeySet = { keys: [{ kty, n, e, kid: KEY_ID, alg: ALG, use: 'sig' } as JWK] };
  const issuer = `urn:group-service:dev/realms/${options.realm}`;
  const verifier = createTokenVerifier({ keys: createLocalJWKSet(jwks), issuer, clientId: options.clientId, onVerified: options.onVerified });

  return {
    verifier,
    jwks,
    issuer,
    async issueToken(username: string) {
      const userId = devUserId(username);
      const token = await new SignJWT({ preferred_username: username, azp: options.clientId, typ: 'Bearer' })
        .setProtectedHeader({ alg: ALG, kid: KEY_ID, typ: 'JWT' })
        .setIssuer(issuer)
        .setSubject(userId)
        .setAudience(options.clientId)
        .setIssuedAt()
        .setExpirationTime(`${TOKEN_LIFETIME_SECONDS}s`)
        .sign(privateKey);
      return { access_token: token, token_type: 'Bearer' as const, expires_in: TOKEN_LIFETIME_SECONDS, user_id: userId };
    },
  };
}
