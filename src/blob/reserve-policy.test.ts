import { describe, expect, test } from 'vitest';
import { capacityFor, checkReservePolicy, RESERVE_POLICY_DEFAULT } from './reserve-policy.js';
import { expectStrataError } from './testing/blob-fixtures.js';

describe('reserve policy', () => {
  test('capacity is size plus the clamped proportional reserve', () => {
    const policy = RESERVE_POLICY_DEFAULT;
    expect(capacityFor(0, policy)).toBe(4096);
    expect(capacityFor(100, policy)).toBe(100 + 4096);
    expect(capacityFor(100_000, policy)).toBe(100_000 + 100_000);
    expect(capacityFor(1 << 30, policy)).toBe((1 << 30) + (64 << 20));
    expect(capacityFor(10, { ratio: 0.5, minBytes: 0, maxBytes: 100 })).toBe(15);
    expect(capacityFor(3, { ratio: 0.5, minBytes: 0, maxBytes: 100 })).toBe(5); // rounds up
    expect(capacityFor(7, { ratio: 0, minBytes: 0, maxBytes: 0 })).toBe(7);
  });

  test('checkReservePolicy accepts good policies and names the bad field', () => {
    expect(checkReservePolicy({ ratio: 1, minBytes: 0, maxBytes: 0 }, 'r')).toEqual({
      ratio: 1,
      minBytes: 0,
      maxBytes: 0,
    });
    expect(checkReservePolicy(RESERVE_POLICY_DEFAULT, 'r')).toEqual(RESERVE_POLICY_DEFAULT);
    const bad: [unknown, string][] = [
      [undefined, 'must be an object'],
      [null, 'must be an object'],
      [{ ratio: -0.1, minBytes: 0, maxBytes: 1 }, 'ratio'],
      [{ ratio: Number.NaN, minBytes: 0, maxBytes: 1 }, 'ratio'],
      [{ ratio: 1000, minBytes: 0, maxBytes: 1 }, 'ratio'],
      [{ ratio: 0.5, minBytes: 1.5, maxBytes: 4 }, 'minBytes'],
      [{ ratio: 0.5, minBytes: -1, maxBytes: 4 }, 'minBytes'],
      [{ ratio: 0.5, minBytes: 8, maxBytes: 4 }, 'maxBytes'],
      [{ ratio: 0.5, minBytes: 0 }, 'maxBytes'],
    ];
    for (const [policy, field] of bad) {
      expectStrataError(() => checkReservePolicy(policy, 'blobReserve'), 'ERR_INVALID_ARGUMENT', [
        'blobReserve',
        field,
      ]);
    }
  });
});
