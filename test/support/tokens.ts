import { decodeJwt, decodeProtectedHeader, exportSPKI, importJWK, SignJWT, type JWTPayload } from 'jose';
import type { TestKey } from './jwks-server.js';

/** Hostile tokens: what an attacker can build without the signing key. */

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** `alg: none`, no signature, otherwise the claims of a valid token. */
export function unsignedToken(payload: JWTPayload, header: Record<string, unknown> = {}): string {
  return `${b64url({ alg: 'none', typ: 'JWT', ...header })}.${b64url(payload)}.`;
}

/** The classic key-confusion attack: HS256 keyed with the RSA public key (PEM), same kid. */
export async function hmacWithPublicKey(key: TestKey, payload: JWTPayload): Promise<string> {
  const publicKey = await importJWK(key.publicJwk, key.alg, { extractable: true });
  const pem = await exportSPKI(publicKey as CryptoKey);
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' }).sign(new TextEncoder().encode(pem));
}

/** Replaces claims in a signed token while keeping its header and signature. */
export function withPayload(token: string, changes: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url({ ...decodeJwt(token), ...changes })}.${signature}`;
}

/** Flips one character of the signature (still valid base64url). */
export function withBrokenSignature(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const i = Math.floor(signature.length / 2);
  const flipped = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${flipped}${signature.slice(i + 1)}`;
}

export function claimsOf(token: string): JWTPayload {
  return decodeJwt(token);
}

export function headerOf(token: string): Record<string, unknown> {
  return decodeProtectedHeader(token) as Record<string, unknown>;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
