// The abstract-level test suite, whole, against StrataLevel (`strata-kv/level`, the compiled
// dist/: run `npm run build` first). abstract-level/test runs every test once on a database and
// once more on a sublevel of one; which tests it runs follows `db.supports` (see
// src/level/README.md). Every database gets a fresh directory under one temp root, which the
// last test removes. tape sets a non-zero exit code when any assertion fails.
//
// Usage: node test/level-suite.mjs [| npx tap-arc]    STRATA_LEVEL_BACKEND=emulated|mapped|auto
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrataLevel } from 'strata-kv/level';

const require = createRequire(import.meta.url);
const test = require('tape');
const suite = require('abstract-level/test');

// Small memtables so that the suite's larger tests also read from flushed tables; flushes run on
// the main thread (no worker pool per database); a small image so that thousands of databases
// stay cheap.
const strata = {
  backend: process.env.STRATA_LEVEL_BACKEND ?? 'auto',
  memtableSize: 4 * 1024,
  sizeMaxBytes: 64 * 1024 * 1024,
  blockCacheBytes: 1024 * 1024,
  flushThreads: 0,
};

const root = mkdtempSync(join(tmpdir(), 'strata-level-suite-'));
const databases = [];

suite({
  test,
  factory(options) {
    const db = new StrataLevel(join(root, `db-${databases.length}`), { ...options, strata });
    databases.push(db);
    return db;
  },
});

// Databases some tests leave open are not closed here: tests leave listeners on them and on their
// sublevels that reopen on 'closing', which would fire into tests that have ended. The process
// exits next (nothing of theirs keeps it alive) and the directory goes now.
test("teardown: remove the databases' directories", (t) => {
  const open = databases.filter((db) => db.status === 'open').length;
  t.comment(`${databases.length} databases, ${open} left open by their tests`);
  rmSync(root, { recursive: true, force: true });
  t.end();
});
