import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { REDACT_PATHS } from './redact.ts';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
// An unknown LOG_LEVEL is reported by the config check with every other problem; until then, info.
const level = (LEVELS.includes(process.env.LOG_LEVEL ?? '') ? process.env.LOG_LEVEL : 'info') as LevelWithSilent;

/** segpipe's logger options; `destination` for tests, else stdout (pretty on a terminal). */
export function createLogger(destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  return pino({
    ...options,
    transport:
      process.stdout.isTTY && process.env.NODE_ENV !== 'production'
        ? { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } }
        : undefined,
  });
}

// One root logger; modules take a child with their own `component` binding.
export const log: Logger = createLogger();

export const childLog = (component: string): Logger => log.child({ component });
