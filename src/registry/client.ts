// Minimal client for the Confluent Schema Registry REST API: the calls segpipe makes, nothing more.
import { redactUrl } from '../redact.ts';
import { IncompatibleSchemaError, SchemaRegistryError } from './errors.ts';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export type Compatibility =
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE'
  | 'NONE';

export class SchemaRegistryClient {
  /** The URL without credentials: fetch refuses URLs that carry them. */
  readonly baseUrl: string;
  /** For errors and logs: credentials shown as ***. */
  readonly shownUrl: string;
  /** `user:password` of the URL as HTTP Basic auth (Confluent's basic.auth.user.info). */
  private readonly authorization: string | undefined;

  constructor(
    url: string,
    private readonly timeoutMs = 10_000,
  ) {
    const u = new URL(url);
    this.authorization = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined;
    u.username = '';
    u.password = '';
    this.baseUrl = u.toString().replace(/\/+$/, '');
    this.shownUrl = redactUrl(url).replace(/\/+$/, '');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: CONTENT_TYPE,
          ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }),
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new SchemaRegistryError(0, undefined, `schema registry at ${this.shownUrl} is unreachable (${(err as Error).message}); check SCHEMA_REGISTRY_URL`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!res.ok) {
      const code = typeof json.error_code === 'number' ? json.error_code : undefined;
      const message = typeof json.message === 'string' ? json.message : text || res.statusText;
      throw new SchemaRegistryError(res.status, code, `${method} ${path}: ${res.status} ${message}`);
    }
    return json as T;
  }

  /** Registers (or finds) the schema under `subject`; returns its global id. */
  async register(subject: string, schema: string): Promise<number> {
    try {
      const { id } = await this.call<{ id: number }>('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
        schemaType: 'AVRO',
        schema,
      });
      return id;
    } catch (err) {
      if (err instanceof SchemaRegistryError && err.status === 409) throw new IncompatibleSchemaError(subject, err.message);
      throw err;
    }
  }

  /** The schema text for a global id, or undefined when the registry does not know it. */
  async schemaById(id: number): Promise<string | undefined> {
    try {
      const { schema } = await this.call<{ schema: string }>('GET', `/schemas/ids/${id}`);
      return schema;
    } catch (err) {
      if (err instanceof SchemaRegistryError && err.status === 404) return undefined;
      throw err;
    }
  }

  async setCompatibility(subject: string, compatibility: Compatibility): Promise<void> {
    await this.call('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
  }

  async subjects(): Promise<string[]> {
    return this.call<string[]>('GET', '/subjects');
  }

  async latest(subject: string): Promise<{ id: number; version: number; schema: string }> {
    return this.call('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
  }
}
