// Embedded fallback Schema Registry: the subset of Confluent's REST API (v7) that Avro
// producers and consumers use, with Confluent's error codes and compatibility rules.
// Used only when no real registry can be installed; any Confluent-compatible registry
// (Confluent, Karapace, Apicurio's ccompat API) can replace it through SCHEMA_REGISTRY_URL.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { compatibilityProblems, isCompatibilityLevel, parseAvro, type CompatibilityLevel } from './compat.ts';
import { RegistryStore, type SubjectVersion } from './store.ts';

const CONTENT_TYPES = ['application/vnd.schemaregistry.v1+json', 'application/vnd.schemaregistry+json', 'application/json', 'application/octet-stream'];

class RegistryHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

const notFound = {
  subject: (s: string) => new RegistryHttpError(404, 40401, `Subject '${s}' not found.`),
  version: (v: string) => new RegistryHttpError(404, 40402, `Version ${v} not found.`),
  schema: () => new RegistryHttpError(404, 40403, 'Schema not found'),
};

interface SchemaBody {
  schema?: unknown;
  schemaType?: unknown;
  references?: unknown;
}

function checkBody(body: SchemaBody | undefined): string {
  if (!body || typeof body.schema !== 'string') throw new RegistryHttpError(422, 42201, 'Either the input schema or one of its references is invalid: "schema" must be a string');
  if (body.schemaType !== undefined && body.schemaType !== 'AVRO') {
    throw new RegistryHttpError(422, 42201, `Only AVRO schemas are supported here, got schemaType ${String(body.schemaType)}`);
  }
  if (Array.isArray(body.references) && body.references.length > 0) {
    throw new RegistryHttpError(422, 42201, 'Schema references are not supported by the embedded registry');
  }
  try {
    parseAvro(body.schema);
  } catch (err) {
    throw new RegistryHttpError(422, 42201, `Invalid schema: ${(err as Error).message}`);
  }
  return body.schema;
}

function pickVersion(versions: SubjectVersion[], v: string): SubjectVersion {
  if (v === 'latest' || v === '-1') return versions[versions.length - 1]!;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RegistryHttpError(422, 42202, `The specified version '${v}' is not a valid version id.`);
  const found = versions[n - 1];
  if (!found) throw notFound.version(v);
  return found;
}

export interface RegistryServerOptions {
  dataDir: string;
  defaultCompatibility?: CompatibilityLevel;
}

export async function buildRegistryServer(opts: RegistryServerOptions): Promise<FastifyInstance> {
  const store = new RegistryStore(opts.dataDir, opts.defaultCompatibility ?? 'BACKWARD');
  const app = Fastify({ logger: false });
  app.addHook('onClose', async () => store.close());
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new RegistryHttpError(422, 422, 'Unrecognized JSON in request body'), undefined);
    }
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply: FastifyReply) => {
    if (err instanceof RegistryHttpError) return reply.code(err.status).send({ error_code: err.errorCode, message: err.message });
    const status = err.statusCode ?? 500;
    return reply.code(status).send({ error_code: status === 415 ? 415 : 50001, message: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error_code: 404, message: `HTTP 404 Not Found: ${req.method} ${req.url}` }));
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-type', 'application/vnd.schemaregistry.v1+json');
    return payload;
  });

  const versionsOf = (subject: string) => {
    const v = store.versions(subject);
    if (!v) throw notFound.subject(subject);
    return v;
  };
  const problemsFor = (subject: string, schema: string, against: SubjectVersion[]) =>
    compatibilityProblems(store.compatibility(subject), parseAvro(schema), against.map((v) => parseAvro(v.schema)));

  app.get('/', async () => ({}));
  app.get('/schemas/types', async () => ['AVRO']);

  app.get<{ Params: { id: string } }>('/schemas/ids/:id', async (req) => {
    const schema = store.schemaById(Number(req.params.id));
    if (schema === undefined) throw notFound.schema();
    return { schema };
  });
  app.get<{ Params: { id: string } }>('/schemas/ids/:id/versions', async (req) => {
    const id = Number(req.params.id);
    if (store.schemaById(id) === undefined) throw notFound.schema();
    return store.subjectNames().flatMap((s) => store.versions(s)!.filter((v) => v.id === id).map((v) => ({ subject: s, version: v.version })));
  });

  app.get('/subjects', async () => store.subjectNames());
  app.get<{ Params: { subject: string } }>('/subjects/:subject/versions', async (req) => versionsOf(req.params.subject).map((v) => v.version));
  app.get<{ Params: { subject: string; version: string } }>('/subjects/:subject/versions/:version', async (req) => {
    const v = pickVersion(versionsOf(req.params.subject), req.params.version);
    return { subject: v.subject, version: v.version, id: v.id, schema: v.schema };
  });
  app.get<{ Params: { subject: string; version: string } }>('/subjects/:subject/versions/:version/schema', async (req, reply) =>
    reply.send(pickVersion(versionsOf(req.params.subject), req.params.version).schema),
  );

  // Register: the same schema again returns its existing id; a new one must pass the subject's rule.
  app.post<{ Params: { subject: string }; Body: SchemaBody }>('/subjects/:subject/versions', async (req) => {
    const { subject } = req.params;
    const schema = checkBody(req.body);
    const existing = store.find(subject, schema);
    if (existing) return { id: existing.id };
    const problems = problemsFor(subject, schema, store.versions(subject) ?? []);
    if (problems.length > 0) {
      throw new RegistryHttpError(409, 409, `Schema being registered is incompatible with an earlier schema for subject "${subject}" (${store.compatibility(subject)}): ${problems.join('; ')}`);
    }
    return { id: store.addVersion(subject, schema).id };
  });

  // Lookup: is this schema registered under the subject?
  app.post<{ Params: { subject: string }; Body: SchemaBody }>('/subjects/:subject', async (req) => {
    const { subject } = req.params;
    versionsOf(subject);
    const found = store.find(subject, checkBody(req.body));
    if (!found) throw notFound.schema();
    return found;
  });

  app.post<{ Params: { subject: string; version: string }; Body: SchemaBody }>(
    '/compatibility/subjects/:subject/versions/:version',
    async (req) => {
      const { subject, version } = req.params;
      const schema = checkBody(req.body);
      const versions = store.versions(subject) ?? [];
      const level = store.compatibility(subject);
      const against = level.endsWith('_TRANSITIVE') || versions.length === 0 ? versions : [pickVersion(versions, version)];
      const problems = problemsFor(subject, schema, against);
      return problems.length === 0 ? { is_compatible: true } : { is_compatible: false, messages: problems };
    },
  );

  const configBody = (body: unknown): CompatibilityLevel => {
    const level = (body as { compatibility?: unknown } | undefined)?.compatibility;
    if (!isCompatibilityLevel(level)) throw new RegistryHttpError(422, 42203, `Invalid compatibility level: ${String(level)}`);
    return level;
  };
  app.get('/config', async () => ({ compatibilityLevel: store.compatibility() }));
  app.put('/config', async (req) => {
    const level = configBody(req.body);
    store.setCompatibility(null, level);
    return { compatibility: level };
  });
  app.get<{ Params: { subject: string }; Querystring: { defaultToGlobal?: string } }>('/config/:subject', async (req) => {
    const own = store.subjectCompatibility(req.params.subject);
    if (own) return { compatibilityLevel: own };
    if (req.query.defaultToGlobal === 'true') return { compatibilityLevel: store.compatibility() };
    throw new RegistryHttpError(404, 40408, `Subject '${req.params.subject}' does not have subject-level compatibility configured`);
  });
  app.put<{ Params: { subject: string } }>('/config/:subject', async (req) => {
    const level = configBody(req.body);
    store.setCompatibility(req.params.subject, level);
    return { compatibility: level };
  });

  return app;
}
