// Avro in the Confluent wire format: [magic 0][schema id, int32 BE][Avro binary body].
// Schemas come from schemas/*.avsc and are registered under TopicNameStrategy (`<topic>-value`).
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import type { Compatibility, SchemaRegistryClient } from './client.ts';
import {
  InvalidBodyError,
  TruncatedMessageError,
  UnknownSchemaIdError,
  WrongMagicByteError,
  type MessageOrigin,
} from './errors.ts';

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

export const SCHEMAS_DIR = path.resolve(import.meta.dirname, '..', '..', 'schemas');

export const subjectFor = (topic: string): string => `${topic}-value`;

export interface SchemaFile {
  /** File name without `.avsc`; by convention the event_name the schema carries. */
  name: string;
  text: string;
}

export function readSchemaFiles(dir = SCHEMAS_DIR): SchemaFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.avsc'.length), text: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

interface Registered {
  id: number;
  type: avro.Type;
}

/** What a writer needs for one topic, as plain data a worker thread can receive. */
export interface WriterSchema {
  topic: string;
  id: number;
  schema: string;
}

/**
 * One value in the Confluent wire format (magic byte, schema id, Avro body) at `pos`; returns the
 * end, or -1 when `buf` is too small.
 */
export function encodeWire(type: avro.Type, id: number, value: unknown, buf: Buffer, pos: number): number {
  if (buf.length - pos < HEADER_BYTES) return -1;
  const end = type.encode(value, buf, pos + HEADER_BYTES);
  if (end < 0) return -1;
  writeWireHeader(buf, pos, id);
  return end;
}

/** The Confluent wire header (magic byte, schema id) at `pos`; the body starts HEADER_BYTES after. */
export function writeWireHeader(buf: Buffer, pos: number, id: number): void {
  buf[pos] = MAGIC_BYTE;
  buf.writeInt32BE(id, pos + 1);
}

/**
 * The encode half of the serde: registered ids and cached types, no registry connection, so
 * worker threads can build one from WriterSchema[] and encode exactly as the main thread does.
 */
export class AvroWriter {
  private readonly byTopic = new Map<string, Registered & { schema: string }>();
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(writers: WriterSchema[] = []) {
    for (const w of writers) this.add(w.topic, w.id, w.schema);
  }

  add(topic: string, id: number, schema: string, type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema)): void {
    this.byTopic.set(topic, { id, type, schema });
  }

  get(topic: string): Registered | undefined {
    return this.byTopic.get(topic);
  }

  schemas(): WriterSchema[] {
    return [...this.byTopic].map(([topic, { id, schema }]) => ({ topic, id, schema }));
  }

  private registered(topic: string): Registered {
    const r = this.byTopic.get(topic);
    if (!r) throw new Error(`no schema registered for topic ${topic}; call register() first`);
    return r;
  }

  idFor(topic: string): number {
    return this.registered(topic).id;
  }

  /** Writes header and body at `pos`; returns the end, or -1 when `buf` is too small. */
  encodeInto(topic: string, value: unknown, buf: Buffer, pos: number): number {
    const { id, type } = this.registered(topic);
    return encodeWire(type, id, value, buf, pos);
  }

  encode(topic: string, value: unknown): Buffer {
    // Written once into a scratch buffer, then one exact-size copy out.
    let end = this.encodeInto(topic, value, this.scratch, 0);
    while (end < 0) {
      this.scratch = Buffer.allocUnsafe(this.scratch.length * 2);
      end = this.encodeInto(topic, value, this.scratch, 0);
    }
    return Buffer.from(this.scratch.subarray(0, end));
  }
}

export interface Decoded<T = unknown> {
  value: T;
  schemaId: number;
}

export class AvroSerde {
  /** Schemas this process writes, one per topic. */
  readonly writer = new AvroWriter();
  private readonly writers = new Map<number, Promise<avro.Type | undefined>>();
  /** Writer types already fetched, for the promise-free path. */
  private readonly loaded = new Map<number, avro.Type>();
  private readonly resolvers = new Map<string, avro.Resolver>();

  constructor(private readonly registry: SchemaRegistryClient) {}

  /** Registers one schema for `topic` and caches it as that topic's reader/writer type. */
  async register(topic: string, schemaText: string, compatibility?: Compatibility): Promise<number> {
    const parsed = JSON.parse(schemaText) as avro.Schema;
    const type = avro.Type.forSchema(parsed);
    const subject = subjectFor(topic);
    if (compatibility) await this.registry.setCompatibility(subject, compatibility);
    // Compact JSON, so reformatting a schema file does not mint a new id.
    const compact = JSON.stringify(parsed);
    const id = await this.registry.register(subject, compact);
    this.writer.add(topic, id, compact, type);
    this.loaded.set(id, type);
    return id;
  }

  /** Registers every schema file whose name maps to a topic; returns topic → id. */
  async registerAll(
    topicOf: (schemaName: string) => string | undefined,
    compatibility?: Compatibility,
    files = readSchemaFiles(),
  ): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    for (const file of files) {
      const topic = topicOf(file.name);
      if (topic === undefined) throw new Error(`schemas/${file.name}.avsc maps to no configured topic`);
      ids.set(topic, await this.register(topic, file.text, compatibility));
    }
    return ids;
  }

  /** Registry id of the schema this process writes to `topic`. */
  idFor(topic: string): number {
    return this.writer.idFor(topic);
  }

  encode(topic: string, value: unknown): Buffer {
    return this.writer.encode(topic, value);
  }

  /**
   * Decodes with the writer schema named in the message, resolved to this topic's reader schema
   * (so older and newer producers both decode). Throws a MessageDecodeError subclass on bad input.
   */
  async decode<T = unknown>(buf: Buffer | null, origin: MessageOrigin): Promise<Decoded<T>> {
    const schemaId = this.header(buf, origin);
    const writer = this.loaded.get(schemaId) ?? (await this.writerType(schemaId));
    if (!writer) throw new UnknownSchemaIdError(origin, schemaId);
    return this.decodeWith<T>(buf!, origin, schemaId, writer);
  }

  /**
   * decode() without a promise per message, for hot loops: null when the writer schema is not
   * loaded yet (call decode() then). Bad input throws as in decode().
   */
  decodeLoaded<T = unknown>(buf: Buffer | null, origin: MessageOrigin): Decoded<T> | null {
    const schemaId = this.header(buf, origin);
    const writer = this.loaded.get(schemaId);
    return writer ? this.decodeWith<T>(buf!, origin, schemaId, writer) : null;
  }

  private header(buf: Buffer | null, origin: MessageOrigin): number {
    if (!buf || buf.length === 0 || buf[0] !== MAGIC_BYTE) throw new WrongMagicByteError(origin, buf?.[0]);
    if (buf.length < HEADER_BYTES) throw new TruncatedMessageError(origin, `${buf.length} bytes, shorter than the 5-byte header`);
    return buf.readInt32BE(1);
  }

  private decodeWith<T>(buf: Buffer, origin: MessageOrigin, schemaId: number, writer: avro.Type): Decoded<T> {
    const reader = this.writer.get(origin.topic)?.type ?? writer;
    let resolver: avro.Resolver | undefined;
    try {
      resolver = reader === writer ? undefined : this.resolver(schemaId, origin.topic, reader, writer);
    } catch (err) {
      throw new InvalidBodyError(origin, `writer schema ${schemaId} cannot be read as this topic's schema: ${(err as Error).message}`);
    }
    let decoded: { value: unknown; offset: number };
    try {
      decoded = reader.decode(buf, HEADER_BYTES, resolver);
    } catch (err) {
      throw new InvalidBodyError(origin, (err as Error).message);
    }
    const { value, offset } = decoded;
    if (offset === -1) throw new TruncatedMessageError(origin, `body of ${buf.length - HEADER_BYTES} bytes ends before the record does`);
    if (offset !== buf.length) throw new InvalidBodyError(origin, `${buf.length - offset} bytes left over after the record`);
    return { value: value as T, schemaId };
  }

  private writerType(id: number): Promise<avro.Type | undefined> {
    let pending = this.writers.get(id);
    if (!pending) {
      pending = this.registry.schemaById(id).then((text) => (text === undefined ? undefined : avro.Type.forSchema(JSON.parse(text))));
      // An unknown id may be registered later; only cache hits, and never cache a failed call.
      pending.then(
        (t) => (t === undefined ? this.writers.delete(id) : this.loaded.set(id, t)),
        () => this.writers.delete(id),
      );
      this.writers.set(id, pending);
    }
    return pending;
  }

  private resolver(id: number, topic: string, reader: avro.Type, writer: avro.Type): avro.Resolver {
    const key = `${topic}:${id}`;
    let r = this.resolvers.get(key);
    if (!r) {
      r = reader.createResolver(writer);
      this.resolvers.set(key, r);
    }
    return r;
  }
}
