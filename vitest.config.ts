import { defineConfig } from 'vitest/config';

// Unit and behaviour tests run on every `npm test`. Long crash loops and stress runs are gated by
// STRATA_SLOW=1 (see README). Worker threads in tests load the compiled JavaScript in dist/, which
// `npm test` builds first, so tests exercise the same worker entry files users run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'nvm/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { STRATA_INVARIANTS: '1' },
  },
});
