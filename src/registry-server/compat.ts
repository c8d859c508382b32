// Confluent's compatibility rules for Avro, decided by avsc's schema resolution:
// a reader can read a writer's data exactly when `reader.createResolver(writer)` succeeds.
import avro from 'avsc';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export const isCompatibilityLevel = (v: unknown): v is CompatibilityLevel =>
  typeof v === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(v);

/** Parses Avro schema text; throws with avsc's message when it is not a valid schema. */
export function parseAvro(text: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(text) as avro.Schema, { wrapUnions: false });
}

function canRead(reader: avro.Type, writer: avro.Type): string | undefined {
  try {
    reader.createResolver(writer);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Problems that make `candidate` incompatible with the registered versions (oldest first)
 * under `level`; an empty list means compatible.
 */
export function compatibilityProblems(level: CompatibilityLevel, candidate: avro.Type, registered: avro.Type[]): string[] {
  if (level === 'NONE' || registered.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? registered : registered.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  for (const old of against) {
    const version = registered.indexOf(old) + 1;
    if (backward) {
      const p = canRead(candidate, old);
      if (p) problems.push(`new schema cannot read data written with version ${version}: ${p}`);
    }
    if (forward) {
      const p = canRead(old, candidate);
      if (p) problems.push(`version ${version} cannot read data written with the new schema: ${p}`);
    }
  }
  return problems;
}
