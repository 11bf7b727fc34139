import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/**
 * A stand-in for Keycloak's realm endpoints: serves a JWKS of real RSA keys at
 * `/realms/{realm}/protocol/openid-connect/certs` and signs tokens with them.
 * Keys can be rotated; every JWKS fetch is counted.
 */
export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface TokenOptions {
  sub?: string;
  username?: string;
  /** Claims to add or override (set a claim to undefined to drop it). */
  claims?: Record<string, unknown>;
  expiresInSeconds?: number;
  key?: TestKey;
  header?: Record<string, unknown>;
}

export class JwksServer {
  readonly realm: string;
  readonly clientId: string;
  fetches = 0;
  private keys: TestKey[] = [];
  private server: Server | undefined;
  private port = 0;

  constructor(options: { realm?: string; clientId?: string } = {}) {
    this.realm = options.realm ?? 'crewup';
    this.clientId = options.clientId ?? 'crewup-frontend';
  }

  get serverUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get issuer(): string {
    return `${this.serverUrl}/realms/${this.realm}`;
  }

  get currentKey(): TestKey {
    return this.keys[this.keys.length - 1]!;
  }

  static async start(options: { realm?: string; clientId?: string } = {}): Promise<JwksServer> {
    const jwks = new JwksServer(options);
    await jwks.rotate();
    await jwks.listen();
    return jwks;
  }

  static async makeKey(alg = 'RS256'): Promise<TestKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = randomUUID();
    return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  }

  /** Adds a new current key; with `retireOld`, the JWKS stops publishing earlier keys. */
  async rotate(options: { retireOld?: boolean; alg?: string } = {}): Promise<TestKey> {
    const key = await JwksServer.makeKey(options.alg);
    this.keys = options.retireOld ? [key] : [...this.keys, key];
    return key;
  }

  private listen(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === `/realms/${this.realm}/protocol/openid-connect/certs`) {
        this.fetches += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.keys.map((k) => k.publicJwk) }));
        return;
      }
      res.writeHead(404).end();
    });
    return new Promise((resolve) => {
      this.server!.listen(0, '127.0.0.1', () => {
        this.port = (this.server!.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  async sign(options: TokenOptions = {}): Promise<string> {
    const key = options.key ?? this.currentKey;
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      iss: this.issuer,
      sub: options.sub ?? randomUUID(),
      aud: 'account',
      azp: this.clientId,
      preferred_username: options.username ?? `user-${randomUUID().slice(0, 8)}`,
      iat: now,
      exp: now + (options.expiresInSeconds ?? 300),
      ...options.claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header }).sign(key.privateKey);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
