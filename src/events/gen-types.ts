// Generates TypeScript types from schemas/*.avsc, so code types cannot drift from the contract.
// `npm run gen:types` writes src/events/types.generated.ts; a unit test fails when it is stale.
import fs from 'node:fs';
import path from 'node:path';
import { readSchemaFiles } from '../registry/serde.ts';

type AvroSchema = string | AvroSchema[] | { type: string; name?: string; fields?: AvroField[]; items?: AvroSchema; values?: AvroSchema; symbols?: string[] };
interface AvroField {
  name: string;
  type: AvroSchema;
  doc?: string;
}

const PRIMITIVES: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  string: 'string',
  bytes: 'Buffer',
};

function tsType(schema: AvroSchema, named: string[]): string {
  if (typeof schema === 'string') {
    const p = PRIMITIVES[schema];
    if (p) return p;
    return schema.split('.').pop()!;
  }
  if (Array.isArray(schema)) return schema.map((s) => tsType(s, named)).join(' | ');
  switch (schema.type) {
    case 'array':
      return `Array<${tsType(schema.items!, named)}>`;
    case 'map':
      return `Record<string, ${tsType(schema.values!, named)}>`;
    case 'enum':
      return schema.symbols!.map((s) => JSON.stringify(s)).join(' | ');
    case 'record':
      named.push(recordInterface(schema as { name: string; fields: AvroField[] }, named));
      return schema.name!;
    default:
      return tsType(schema.type, named);
  }
}

function recordInterface(schema: { name: string; fields: AvroField[]; doc?: string }, named: string[]): string {
  const lines = schema.fields.map((f) => `${f.doc ? `  /** ${f.doc} */\n` : ''}  ${f.name}: ${tsType(f.type, named)};`);
  return `${schema.doc ? `/** ${schema.doc} */\n` : ''}export interface ${schema.name} {\n${lines.join('\n')}\n}\n`;
}

export function generateTypes(): string {
  const named: string[] = [];
  const byEvent: string[] = [];
  for (const file of readSchemaFiles()) {
    const schema = JSON.parse(file.text) as { name: string; fields: AvroField[] };
    tsType({ ...schema, type: 'record' }, named);
    byEvent.push(`  ${file.name}: ${schema.name};`);
  }
  return [
    '// Generated from schemas/*.avsc by src/events/gen-types.ts (npm run gen:types). Do not edit.',
    '',
    ...named,
    '/** Event type by event_name (the schema file name). */',
    `export interface EventsByName {\n${byEvent.join('\n')}\n}`,
    '',
  ].join('\n');
}

export const GENERATED_PATH = path.join(import.meta.dirname, 'types.generated.ts');

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  fs.writeFileSync(GENERATED_PATH, generateTypes());
  process.stdout.write(`wrote ${GENERATED_PATH}\n`);
}
