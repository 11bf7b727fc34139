import { ConfigError, loadConfig, type Config } from './config/config.js';

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

try {
  // Loaded after the configuration is known good, so a bad variable fails at once.
  const { startService } = await import('./server.js');
  const service = await startService(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ signal }, 'shutting down');
    const forced = setTimeout(() => {
      service.app.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forced.unref();
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        service.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  process.stderr.write(`group-service failed to start: ${(err as Error).message}\n`);
  process.exit(1);
}
