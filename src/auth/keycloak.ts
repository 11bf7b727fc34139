import { createRemoteJWKSet } from 'jose';
import type { TokenVerifier, VerifierOptions } from './token-verifier.js';
import { createTokenVerifier } from './token-verifier.js';

/** How long after one JWKS fetch no other may start: an unknown kid refetches at most this often. */
export const JWKS_REFETCH_COOLDOWN_MS = 30_000;
/** Keys are refreshed at least this often even when every kid is known. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

export function keycloakIssuer(serverUrl: string, realm: string): string {
  return `${serverUrl}/realms/${realm}`;
}

export function createKeycloakVerifier(
  keycloak: { serverUrl: string; realm: string; clientId: string },
  onVerified?: VerifierOptions['onVerified'],
): TokenVerifier {
  const issuer = keycloakIssuer(keycloak.serverUrl, keycloak.realm);
  const keys = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`), {
    cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    timeoutDuration: 5_000,
  });
  return createTokenVerifier({ keys, issuer, clientId: keycloak.clientId, onVerified });
}
