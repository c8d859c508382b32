import { describe, expect, it } from 'vitest';
import { STUB_BYTES, deadLetterMessages, requestsUnder } from '../../src/kafka/dead-letters.ts';

describe('dead letters in requests the broker takes', () => {
  it('cuts letters into consecutive requests under the limit and turns one too big alone into a too_large stub', () => {
    const limit = 10_000;
    const dead = Array.from({ length: 300 }, (_, i) => ({ offset: String(i), key: Buffer.from(`k${i}`), value: Buffer.alloc(100, 1), reason: 'invalid_body', error: 'x'.repeat(2000) }));
    dead.push({ offset: '300', key: Buffer.from('big'), value: Buffer.alloc(50_000, 2), reason: 'wrong_magic_byte', error: 'magic' });
    const messages = deadLetterMessages({ topic: 't', partition: 4 }, dead, limit);
    expect(messages).toHaveLength(301);
    expect(messages[0]!.headers).toMatchObject({ source_topic: 't', source_partition: '4', source_offset: '0', reason: 'invalid_body' });
    expect(String(messages[0]!.headers!.error)).toHaveLength(1000);
    const stub = messages[300]!;
    expect((stub.value as Buffer).length).toBe(STUB_BYTES);
    expect(stub.headers).toMatchObject({ source_offset: '300', reason: 'too_large', original_reason: 'wrong_magic_byte', original_bytes: String(3 + 50_000) });
    const requests = requestsUnder(messages, limit);
    expect(requests.length).toBeGreaterThan(30);
    expect(requests.flat()).toEqual(messages);
    for (const r of requests) {
      const bytes = r.reduce((n, m) => n + (m.value as Buffer).length + 1000 + 100, 0);
      expect(r.length === 1 || bytes <= limit).toBe(true);
    }
  });
});
