// Registry state as an append-only log (one JSON line per change, fsynced), replayed at start.
// Ids are global and a schema text registered twice, under any subject, keeps its first id,
// as in Confluent's registry.
import fs from 'node:fs';
import path from 'node:path';
import type { CompatibilityLevel } from './compat.ts';

type LogEntry =
  | { op: 'schema'; id: number; schema: string }
  | { op: 'version'; subject: string; version: number; id: number }
  | { op: 'config'; subject: string | null; compatibility: CompatibilityLevel };

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schema: string;
}

/** Whitespace-insensitive identity of a schema text. */
export const normalizeSchema = (text: string): string => JSON.stringify(JSON.parse(text));

export class RegistryStore {
  private readonly schemas = new Map<number, string>();
  private readonly idByText = new Map<string, number>();
  private readonly subjects = new Map<string, number[]>(); // subject → ids by version (index + 1)
  private readonly configs = new Map<string | null, CompatibilityLevel>();
  private readonly fd: number;
  private nextId = 1;

  constructor(
    dir: string,
    private readonly defaultCompatibility: CompatibilityLevel,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'registry.jsonl');
    if (fs.existsSync(file)) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (!line.trim()) return;
        try {
          this.apply(JSON.parse(line) as LogEntry);
        } catch (err) {
          // Only a torn last line (crash mid-write) is tolerable; anything else is corruption.
          if (i < lines.length - 2) throw new Error(`${file}:${i + 1} is corrupt: ${(err as Error).message}`);
        }
      });
    }
    this.fd = fs.openSync(file, 'a');
  }

  private apply(e: LogEntry): void {
    if (e.op === 'schema') {
      this.schemas.set(e.id, e.schema);
      this.nextId = Math.max(this.nextId, e.id + 1);
      this.idByText.set(normalizeSchema(e.schema), e.id);
    } else if (e.op === 'version') {
      const versions = this.subjects.get(e.subject) ?? [];
      versions[e.version - 1] = e.id;
      this.subjects.set(e.subject, versions);
    } else {
      this.configs.set(e.subject, e.compatibility);
    }
  }

  private append(e: LogEntry): void {
    fs.writeSync(this.fd, `${JSON.stringify(e)}\n`);
    fs.fsyncSync(this.fd);
    this.apply(e);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  compatibility(subject?: string): CompatibilityLevel {
    return (subject !== undefined ? this.configs.get(subject) : undefined) ?? this.configs.get(null) ?? this.defaultCompatibility;
  }

  subjectCompatibility(subject: string): CompatibilityLevel | undefined {
    return this.configs.get(subject);
  }

  setCompatibility(subject: string | null, compatibility: CompatibilityLevel): void {
    if (this.configs.get(subject) === compatibility) return;
    this.append({ op: 'config', subject, compatibility });
  }

  schemaById(id: number): string | undefined {
    return this.schemas.get(id);
  }

  subjectNames(): string[] {
    return [...this.subjects.keys()].sort();
  }

  versions(subject: string): SubjectVersion[] | undefined {
    const ids = this.subjects.get(subject);
    return ids?.map((id, i) => ({ subject, version: i + 1, id, schema: this.schemas.get(id)! }));
  }

  /** The version of `subject` holding this schema text, if any. */
  find(subject: string, schema: string): SubjectVersion | undefined {
    const id = this.idByText.get(normalizeSchema(schema));
    return id === undefined ? undefined : this.versions(subject)?.find((v) => v.id === id);
  }

  /** Adds `schema` as the next version of `subject` (the caller has checked compatibility). */
  addVersion(subject: string, schema: string): SubjectVersion {
    let id = this.idByText.get(normalizeSchema(schema));
    if (id === undefined) {
      id = this.nextId;
      this.append({ op: 'schema', id, schema });
    }
    const version = (this.subjects.get(subject)?.length ?? 0) + 1;
    this.append({ op: 'version', subject, version, id });
    return { subject, version, id, schema };
  }
}
