import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'strata-cli-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function strata(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('strata CLI (compiled, dist/src/cli/main.js)', () => {
  test('the CLI is built and starts with a shebang', () => {
    expect(existsSync(CLI), 'run `npx tsc -p tsconfig.build.json` first').toBe(true);
    expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  test('ycsb on the map engine prints the table and the verification line', () => {
    const result = strata(
      'ycsb',
      '--engine',
      'map',
      '--load',
      'workload/10w-rw-50-50-load.txt',
      '--run',
      'workload/10w-rw-50-50-run.txt',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^engine map, 1 thread; latency: every 16th op timed/);
    expect(result.stdout).toMatch(
      /load\s+workload\/10w-rw-50-50-load\.txt\s+100,000\s+INSERT 100,000/,
    );
    expect(result.stdout).toMatch(
      /run\s+workload\/10w-rw-50-50-run\.txt\s+10,000\s+INSERT 5,102 \/ READ 4,898/,
    );
    expect(result.stdout).toMatch(
      /verify: load: failed inserts 3, .*\| run: failed inserts 0, read misses 0, /,
    );
  });

  test('--json prints the same figures as JSON', () => {
    const result = strata(
      'ycsb',
      '--engine',
      'map',
      '--json',
      '--load',
      'workload/1w-rw-50-50-load.txt',
      '--run',
      'workload/1w-rw-50-50-run.txt',
    );
    expect(result.status).toBe(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed.engine).toBe('map');
    expect(parsed.phases).toHaveLength(2);
    expect(parsed.phases[0].verification.failedInserts).toBe(0);
    expect(parsed.phases[1].verification).toMatchObject({ readMisses: 0, updateMisses: 0 });
    expect(parsed.phases[1].latency).toHaveProperty('p999Ns');
    expect(parsed.verification.checksum).toMatch(/^\d+$/);
  });

  test('a bad workload file: exit 1, one clear line naming file and line, no stack', () => {
    const bad = join(scratch, 'bad.txt');
    writeFileSync(bad, 'INSERT 123\nINSERT 12x4\n');
    const result = strata('ycsb', '--engine', 'map', '--load', bad);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `strata: ${bad} line 2: expected a decimal number, found "INSERT 12x4" (ERR_WORKLOAD)\n`,
    );
  });

  test('a missing file, SCAN on map and --threads on map are user errors (exit 1)', () => {
    const missing = strata('ycsb', '--engine', 'map', '--run', join(scratch, 'none.txt'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(
      /^strata: cannot read workload file .*none\.txt: .*\(ERR_IO\)\n$/,
    );

    const scan = join(scratch, 'scan.txt');
    writeFileSync(scan, 'SCAN 12345678 4\n');
    const refused = strata('ycsb', '--engine', 'map', '--run', scan);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/no ordered scans .*\(ERR_WORKLOAD\)\n$/);

    const threads = strata(
      'ycsb',
      '--engine',
      'map',
      '--threads',
      '2',
      '--run',
      'workload/1w-rw-50-50-run.txt',
    );
    expect(threads.status).toBe(1);
    expect(threads.stderr).toMatch(/needs the ehash or strata engine.*\(ERR_INVALID_ARGUMENT\)\n$/);
    for (const result of [missing, refused, threads]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test('usage errors: unknown engine, no workload', () => {
    const engine = strata('ycsb', '--engine', 'nope', '--run', 'workload/1w-rw-50-50-run.txt');
    expect(engine.status).toBe(1);
    expect(engine.stderr).toMatch(
      /Allowed choices are ehash, strata, map, lmdb, lmdb-nosync, classic-level, sqlite\./,
    );
    const none = strata('ycsb', '--engine', 'map');
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(
      'strata: give --load FILE, --run FILE or both (ERR_INVALID_ARGUMENT)\n',
    );
  });

  test('ycsb --workload runs core workloads on several engines and checks they agree', () => {
    const args = ['ycsb', '--workload', 'a,e', '--records', '500', '--operations', '300'];
    const result = strata(...args, '--engine', 'map,sqlite', '--seed', '5');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      /^YCSB core workloads, 500 records of 10 × 100-byte fields, seed 5/,
    );
    expect(result.stdout).toMatch(/map\s+load\s+500\s+INSERT 500/);
    expect(result.stdout).toMatch(/sqlite \(WAL, NORMAL\)\s+e\s+300\s+INSERT \d+ \/ SCAN \d+/);
    expect(result.stdout).toMatch(
      /durability of sqlite \(WAL, NORMAL\): process crash, not power loss/,
    );
    expect(result.stdout).toMatch(/verify a: read\/update misses 0, .*\(all 2 engines agree\)/);
    expect(result.stdout).toMatch(/verify e: read\/update misses 0, .*\(all 2 engines agree\)/);
    const again = strata(...args, '--engine', 'map', '--seed', '5', '--json');
    const checksums = JSON.parse(again.stdout).engines[0].phases.map(
      (phase: { verification: { checksum: string } }) => phase.verification.checksum,
    );
    expect(result.stdout).toContain(`checksum ${checksums[1]}`);
    expect(result.stdout).toContain(`checksum ${checksums[2]}`);

    const ehash = strata('ycsb', '--workload', 'a', '--engine', 'ehash');
    expect(ehash.status).toBe(1);
    expect(ehash.stderr).toMatch(/ehash has no byte-keyed adapter \(ERR_INVALID_ARGUMENT\)\n$/);
    const letter = strata('ycsb', '--workload', 'g');
    expect(letter.status).toBe(1);
    expect(letter.stderr).toMatch(/expected workloads among a, b, c, d, e, f/);
    const both = strata('ycsb', '--workload', 'a', '--run', 'workload/1w-rw-50-50-run.txt');
    expect(both.stderr).toBe(
      'strata: give --workload or --load/--run, not both (ERR_INVALID_ARGUMENT)\n',
    );
  });

  test('ycsb --engine strata --threads 2: worker threads, per-thread figures, same verification', () => {
    const core = ['ycsb', '--engine', 'strata', '--workload', 'a,e', '--records', '600'];
    const sizes = ['--operations', '300', '--seed', '7'];
    const parallel = strata(...core, ...sizes, '--threads', '2');
    expect(parallel.stderr).toBe('');
    expect(parallel.status).toBe(0);
    expect(parallel.stdout).toMatch(/^YCSB core workloads, 600 records .*, seed 7, 2 threads;/);
    expect(parallel.stdout).toMatch(/ {2}strata a per thread: #0 [\d,]+ ops [\d,]+ ops\/s, #1 /);
    expect(parallel.stdout).toMatch(/ {2}strata e per thread: #0 /);
    const single = strata(...core, ...sizes);
    const verifyLines = (stdout: string) =>
      stdout.split('\n').filter((line) => /^verify /.test(line));
    expect(verifyLines(parallel.stdout)).toHaveLength(2);
    expect(verifyLines(parallel.stdout)).toEqual(verifyLines(single.stdout));

    const files = [
      '--load',
      'workload/1w-rw-50-50-load.txt',
      '--run',
      'workload/1w-rw-50-50-run.txt',
    ];
    const course = strata('ycsb', '--engine', 'strata', '--threads', '2', ...files);
    expect(course.status).toBe(0);
    expect(course.stdout).toMatch(/^engine strata, 2 threads;/);
    expect(course.stdout).toMatch(/ {2}run per thread: #0 [\d,]+ ops [\d,]+ ops\/s, #1 /);
    const verifyOf = (stdout: string) =>
      stdout.split('\n').find((line) => line.startsWith('verify:'));
    expect(verifyOf(course.stdout)).toMatch(
      /run: failed inserts 0, read misses 0, update misses 0/,
    );
    // The map engine on one thread is the reference (and fast).
    expect(verifyOf(course.stdout)).toBe(
      verifyOf(strata('ycsb', '--engine', 'map', ...files).stdout),
    );

    const mixed = strata('ycsb', '--engine', 'strata,map', '--workload', 'c', '--threads', '2');
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toBe(
      'strata: --threads 2 with --workload needs the strata engine; map runs on one thread (ERR_INVALID_ARGUMENT)\n',
    );
  });

  test('gen-workload writes a deterministic pair that runs with no misses', () => {
    const args = [
      'gen-workload',
      '--records',
      '2000',
      '--operations',
      '1000',
      '--write',
      'update',
      '--distribution',
      'zipfian',
      '--delete-percent',
      '10',
      '--seed',
      '4',
    ];
    const first = strata(...args, '--out', join(scratch, 'a'));
    const second = strata(...args, '--out', join(scratch, 'b'));
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/wrote .*2000-rw-50-50-load\.txt and .*2000-rw-50-50-run\.txt/);
    for (const phase of ['load', 'run']) {
      const name = `2000-rw-50-50-${phase}.txt`;
      expect(readFileSync(join(scratch, 'a', name))).toEqual(
        readFileSync(join(scratch, 'b', name)),
      );
    }
    expect(second.status).toBe(0);
    const run = strata(
      'ycsb',
      '--engine',
      'map',
      '--json',
      '--load',
      join(scratch, 'a', '2000-rw-50-50-load.txt'),
      '--run',
      join(scratch, 'a', '2000-rw-50-50-run.txt'),
    );
    const verification = JSON.parse(run.stdout).verification;
    expect(verification).toMatchObject({
      failedInserts: 0,
      readMisses: 0,
      updateMisses: 0,
      removeMisses: 0,
    });
  });

  test('stress: a short run prints its report (exit 0); a changed --keys and bad flags are refused', () => {
    const dir = join(scratch, 'stress');
    const args = ['stress', '--threads', '1', '--seconds', '1', '--seed', '2', '--dir', dir];
    const run = strata(...args, '--keys', '40');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^strata stress: 1 thread, 1 s, seed 2, 40 keys per thread, /);
    expect(run.stdout).toMatch(/\noperations: [\d,]+ \([\d,]+\/s\)\n {2}put [\d,]+ {2}del /);
    expect(run.stdout).toMatch(
      /\nend: [\d,]+ acknowledged writes verified over 40 keys of 1 thread, /,
    );
    expect(run.stdout).toMatch(/\nfailures: 0\nlost: 0\nresult: ok\n$/);
    const keys = strata(...args, '--keys', '50');
    expect(keys.status).toBe(1);
    expect(keys.stderr).toMatch(/--keys 40; use that or a new --dir \(ERR_INVALID_ARGUMENT\)\n$/);
    const threads = strata('stress', '--threads', '0', '--dir', dir);
    expect(threads.status).toBe(1);
    expect(threads.stderr).toMatch(/expected an integer in \[1, 32\]/);
    const window = strata('stress', '--crash-loop', '1', '--kill-after', '9-1', '--dir', dir);
    expect(window.status).toBe(1);
    expect(window.stderr).toMatch(/expected <min>-<max> in ms/);
    expect(strata('stress').stderr).toMatch(/required option '--dir <dir>' not specified/);
  });
});
