// Secrets are never printed: URLs lose their credentials before they reach a log line, an error,
// the banner or /api/status, and pino removes the fields that hold secrets.

const SECRET_PARAM = /pass|secret|token|key|auth|cred|sig/i;

/**
 * The URL with any user and password, and any query parameter that looks like a secret
 * (ioredis takes `?password=`), replaced by `***`; unparseable text comes back as `<unparseable URL>`.
 */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
    return u.toString().replace(/\/$/, raw.endsWith('/') ? '/' : '').replace(/%2A%2A%2A/g, '***');
  } catch {
    return '<unparseable URL>';
  }
}

/** Fields pino censors wherever they appear in a log object (two levels deep). */
export const REDACT_PATHS = [
  'token',
  'adminToken',
  'password',
  'passphrase',
  'privateKeyPassphrase',
  'authorization',
  'cookie',
  '*.token',
  '*.adminToken',
  '*.password',
  '*.passphrase',
  '*.privateKeyPassphrase',
  '*.authorization',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-xsrf-token"]',
  'res.headers["set-cookie"]',
  'config.api.adminToken',
  'config.warehouse.password',
  'config.warehouse.privateKeyPassphrase',
];
