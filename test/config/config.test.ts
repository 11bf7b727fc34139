import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, isDevAuth, loadConfig } from '../../src/config/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('follows the contract table for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8002,
      host: '0.0.0.0',
      databaseUrl: undefined,
      dataDir: './data',
      keycloak: undefined,
      keycloakRealm: 'crewup',
      keycloakClientId: 'crewup-frontend',
      redisUrl: undefined,
      environment: 'development',
      logLevel: 'info',
      rateLimitMessages: 5,
      rateLimitWindowMs: 60_000,
      maxMessageLength: 1000,
      corsOrigins: [],
    });
    expect(isDevAuth(config)).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats blank values as unset', () => {
    expect(loadConfig({ PORT: ' ', DATABASE_URL: '', LOG_LEVEL: '  ' })).toMatchObject({ port: 8002, databaseUrl: undefined, logLevel: 'info' });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgresql://u:p@db:5432/app',
      DATA_DIR: '/var/lib/gcs',
      KEYCLOAK_SERVER_URL: 'https://kc.example.com/',
      KEYCLOAK_REALM: 'other',
      KEYCLOAK_CLIENT_ID: 'web',
      REDIS_URL: 'redis://cache:6379',
      ENVIRONMENT: 'production',
      LOG_LEVEL: 'debug',
      RATE_LIMIT_MESSAGES: '20',
      RATE_LIMIT_WINDOW: '10',
      MAX_MESSAGE_LENGTH: '500',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      databaseUrl: 'postgresql://u:p@db:5432/app',
      dataDir: '/var/lib/gcs',
      keycloak: { serverUrl: 'https://kc.example.com', realm: 'other', clientId: 'web' },
      redisUrl: 'redis://cache:6379',
      environment: 'production',
      logLevel: 'debug',
      rateLimitMessages: 20,
      rateLimitWindowMs: 10_000,
      maxMessageLength: 500,
      corsOrigins: ['https://a.example.com', 'http://localhost:3000'],
    });
    expect(isDevAuth(config)).toBe(false);
  });

  it.each([
    ['DEBUG', 'debug'],
    ['info', 'info'],
    ['Info', 'info'],
    ['WARNING', 'warn'],
    ['warning', 'warn'],
    ['WARN', 'warn'],
    ['ERROR', 'error'],
  ])('LOG_LEVEL=%s is %s', (raw, level) => {
    expect(loadConfig({ LOG_LEVEL: raw }).logLevel).toBe(level);
  });

  it('accepts postgres:// as well as postgresql://, and rediss://', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/app', REDIS_URL: 'rediss://cache:6380' })).toMatchObject({
      databaseUrl: 'postgres://db/app',
      redisUrl: 'rediss://cache:6380',
    });
  });

  it('normalizes CORS origins to the form browsers send', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com/,HTTP://LOCALHOST:3000' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:3000',
    ]);
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });
});

describe('loadConfig refuses bad values, naming the variable', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['RATE_LIMIT_MESSAGES', 'x'],
    ['RATE_LIMIT_MESSAGES', '0'],
    ['RATE_LIMIT_WINDOW', '0'],
    ['RATE_LIMIT_WINDOW', '1e3'],
    ['MAX_MESSAGE_LENGTH', 'lots'],
    ['MAX_MESSAGE_LENGTH', '0'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'http://db.example.com/app'],
    ['DATABASE_URL', 'mysql://db/app'],
    ['KEYCLOAK_SERVER_URL', 'ftp://kc.example.com'],
    ['KEYCLOAK_SERVER_URL', 'kc.example.com'],
    ['KEYCLOAK_SERVER_URL', 'https://kc.example.com/?realm=x'],
    ['KEYCLOAK_SERVER_URL', 'https://kc.example.com/#x'],
    ['KEYCLOAK_REALM', 'a/b'],
    ['REDIS_URL', 'bad'],
    ['REDIS_URL', 'http://cache:6379'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'trace'],
    ['CORS_ORIGINS', 'garbage'],
    ['CORS_ORIGINS', 'https://ok.example.com,garbage'],
    ['CORS_ORIGINS', 'javascript:alert(1)'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
  ])('%s=%j', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).not.toContain('\n');
  });

  it('does not echo a database password in the message', () => {
    const err = configError({ DATABASE_URL: 'mysql://user:s3cret@db/app' });
    expect(err.message).not.toContain('s3cret');
  });

  it('ENVIRONMENT=production refuses to start without DATABASE_URL or KEYCLOAK_SERVER_URL', () => {
    expect(configError({ ENVIRONMENT: 'production', KEYCLOAK_SERVER_URL: 'https://kc.example.com' }).message).toContain('DATABASE_URL');
    expect(configError({ ENVIRONMENT: 'production', DATABASE_URL: 'postgresql://db/app' }).message).toContain('KEYCLOAK_SERVER_URL');
    expect(configError({ ENVIRONMENT: 'Production' }).message).toMatch(/DATABASE_URL|KEYCLOAK_SERVER_URL/);
  });
});

// main.ts loads the whole service before reading its configuration: slow on a busy machine.
describe('start-up with a bad variable', { timeout: 120_000 }, () => {
  function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: 'memory://', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`main.ts did not exit; stderr: ${stderr}`));
      }, 100_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr, stdout });
      });
    });
  }

  it.each([
    ['PORT', 'abc'],
    ['RATE_LIMIT_MESSAGES', 'x'],
  ])('%s=%s exits 1 with exactly one stderr line naming it', async (name, value) => {
    const { code, stderr, stdout } = await runMain({ [name]: value });
    expect(code).toBe(1);
    const lines = stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
    expect(stdout).toBe('');
  });
});
