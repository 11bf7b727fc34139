import { createRemoteKeySet } from './remote-jwks.js';
import type { TokenVerifier, VerifierOptions } from './token-verifier.js';
import { createTokenVerifier } from './token-verifier.js';

/** How long after one unknown-kid refetch no other may start. */
export const JWKS_REFETCH_COOLDOWN_MS = 30_000;
/** Keys are refreshed at least this often even when every kid is known. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_TIMEOUT_MS = 5_000;

export function keycloakIssuer(serverUrl: string, realm: string): string {
  return `${serverUrl}/realms/${realm}`;
}

export function createKeycloakVerifier(
  keycloak: { serverUrl: string; realm: string; clientId: string },
  onVerified?: VerifierOptions['onVerified'],
  options: { now?: () => number } = {},
): TokenVerifier {
  const issuer = keycloakIssuer(keycloak.serverUrl, keycloak.realm);
  const keys = createRemoteKeySet(new URL(`${issuer}/protocol/openid-connect/certs`), {
    cooldownMs: JWKS_REFETCH_COOLDOWN_MS,
    maxAgeMs: JWKS_MAX_AGE_MS,
    timeoutMs: JWKS_TIMEOUT_MS,
    now: options.now,
  });
  return createTokenVerifier({ keys, issuer, clientId: keycloak.clientId, onVerified, now: options.now });
}
