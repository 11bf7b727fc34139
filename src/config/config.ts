/**
 * The only reader of the environment. Every variable of the contract is parsed and
 * validated here, once, at start-up; a bad value stops start-up with one line that
 * names the variable. The result is frozen and passed to whoever needs it.
 */
export type Environment = 'development' | 'production' | 'test' | string;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly keycloak: { readonly serverUrl: string; readonly realm: string; readonly clientId: string } | undefined;
  /** Realm and client id apply in development auth mode too (issuer and audience of dev tokens). */
  readonly keycloakRealm: string;
  readonly keycloakClientId: string;
  readonly redisUrl: string | undefined;
  readonly environment: Environment;
  readonly logLevel: LogLevel;
  readonly rateLimitMessages: number;
  readonly rateLimitWindowMs: number;
  readonly maxMessageLength: number;
  readonly corsOrigins: readonly string[];
  readonly wsHeartbeatMs: number;
  readonly shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function parseUrl(name: string, raw: string, protocols: readonly string[]): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')}`);
  }
  return parsed;
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  parseUrl(name, raw, protocols);
  return raw;
}

/** A base URL that paths are appended to: a query or fragment would end up in the middle. */
function baseUrl(env: Env, name: string): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const parsed = parseUrl(name, raw, ['http:', 'https:']);
  if (parsed.search || parsed.hash || raw.includes('?') || raw.includes('#')) throw new ConfigError(name, 'must not have a query or fragment');
  return raw.replace(/\/+$/, '');
}

/** Browsers send `Origin: scheme://host[:port]`; an entry in any other form would never match. */
function corsOrigins(env: Env): string[] {
  const entries = (text(env, 'CORS_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  return entries.map((entry) => {
    if (entry === '*') return entry;
    let parsed: URL | undefined;
    try {
      parsed = new URL(entry);
    } catch {
      // reported below
    }
    const isOrigin = parsed && ['http:', 'https:'].includes(parsed.protocol) && parsed.pathname === '/' && !parsed.search && !parsed.hash && !parsed.username;
    if (!parsed || !isOrigin) throw new ConfigError('CORS_ORIGINS', `holds "${entry}", which is not an origin like https://app.example.com`);
    return parsed.origin;
  });
}

const LOG_LEVELS: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
};

export function loadConfig(env: Env): Config {
  const environment = (text(env, 'ENVIRONMENT') ?? 'development').toLowerCase();
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const keycloakServerUrl = baseUrl(env, 'KEYCLOAK_SERVER_URL');
  const keycloakRealm = text(env, 'KEYCLOAK_REALM') ?? 'crewup';
  const keycloakClientId = text(env, 'KEYCLOAK_CLIENT_ID') ?? 'crewup-frontend';
  if (!/^[\w.-]+$/.test(keycloakRealm)) throw new ConfigError('KEYCLOAK_REALM', 'may hold only letters, digits, ".", "_" and "-"');

  if (environment === 'production') {
    if (!databaseUrl) throw new ConfigError('DATABASE_URL', 'is required when ENVIRONMENT=production');
    if (!keycloakServerUrl) throw new ConfigError('KEYCLOAK_SERVER_URL', 'is required when ENVIRONMENT=production');
  }

  const rawLevel = (text(env, 'LOG_LEVEL') ?? 'INFO').toLowerCase();
  const logLevel = LOG_LEVELS[rawLevel];
  if (!logLevel) throw new ConfigError('LOG_LEVEL', `must be one of DEBUG, INFO, WARNING, ERROR, got "${rawLevel}"`);

  const cors = corsOrigins(env);

  const host = text(env, 'HOST') ?? '0.0.0.0';

  return Object.freeze({
    port: integer(env, 'PORT', 8002, 0, 65535),
    host,
    databaseUrl,
    dataDir: text(env, 'DATA_DIR') ?? './data',
    keycloak: keycloakServerUrl
      ? Object.freeze({ serverUrl: keycloakServerUrl, realm: keycloakRealm, clientId: keycloakClientId })
      : undefined,
    keycloakRealm,
    keycloakClientId,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    environment,
    logLevel,
    rateLimitMessages: integer(env, 'RATE_LIMIT_MESSAGES', 5, 1, 1_000_000_000),
    rateLimitWindowMs: integer(env, 'RATE_LIMIT_WINDOW', 60, 1, 86_400) * 1000,
    maxMessageLength: integer(env, 'MAX_MESSAGE_LENGTH', 1000, 1, 16_000),
    corsOrigins: Object.freeze(cors),
    wsHeartbeatMs: integer(env, 'WS_HEARTBEAT_SECONDS', 30, 1, 3600) * 1000,
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_SECONDS', 10, 1, 600) * 1000,
  });
}

export function isDevAuth(config: Config): boolean {
  return config.keycloak === undefined && config.environment !== 'production';
}
