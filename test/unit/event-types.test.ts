import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, generateTypes } from '../../src/events/gen-types.ts';

describe('event types', () => {
  it('src/events/types.generated.ts matches schemas/*.avsc (run `npm run gen:types` after a schema change)', () => {
    expect(fs.readFileSync(GENERATED_PATH, 'utf8')).toBe(generateTypes());
  });
});
