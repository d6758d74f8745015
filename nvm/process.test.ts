/**
 * Behaviour across processes: a SIGKILLed writer loses nothing it reported (mapped backend), a
 * second process is refused with ERR_LOCKED, and without the addon `auto` falls back to the
 * emulated backend with one warning. Children run the compiled scripts in dist/nvm/testing/.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NvmImage } from './image.js';
import { compiledTestingScript } from './testing/compiled-script.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { PageKind } from './types.js';

const STEPS_BEFORE_KILL = 400;

let folder: TempFolder;
beforeEach(() => {
  folder = makeTempFolder('nvm-process');
});
afterEach(() => folder.remove());

interface StepLine {
  readonly step: number;
  readonly first: number;
  readonly count: number;
}

describe('mapped backend across processes', () => {
  test('kill -9 keeps every write the child reported', async () => {
    const path = folder.file('killed.nvm');
    const child = spawn(process.execPath, [compiledTestingScript('kill-child'), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const steps = await readStepsThenKill(child, STEPS_BEFORE_KILL);
    expect(steps.length).toBeGreaterThanOrEqual(STEPS_BEFORE_KILL);

    const image = NvmImage.open(path, { backend: 'mapped' });
    expect(image.wasCleanShutdown).toBe(false);
    const pageWords = image.pageSizeBytes / 4;
    for (const { step, first, count } of steps) {
      expect(image.pageKind(first), `step ${step}`).toBe(PageKind.ehashBuckets);
      expect(image.pageOwner(first)).toBe(step);
      expect(image.pageRunLength(first)).toBe(count);
      expect(image.pageAux(first)).toBe(step);
      for (let page = first; page < first + count; page++) {
        for (let word = 0; word < pageWords; word += 64) {
          expect(image.words[page * pageWords + word]).toBe(step + word);
        }
      }
    }
    const last = steps[steps.length - 1]!.step;
    expect(image.root(0) >= BigInt(last)).toBe(true);
    const runs: number[] = [];
    image.forEachPage(PageKind.ehashBuckets, undefined, (page) => runs.push(page));
    // The step in flight at the kill may or may not have committed; nothing else is there.
    expect(runs.length - steps.length).toBeGreaterThanOrEqual(0);
    expect(runs.length - steps.length).toBeLessThanOrEqual(1);
    const allocated = runs.reduce((total, page) => total + image.pageRunLength(page), 0);
    expect(image.stats().pagesAllocated).toBe(allocated);
    image.close();
  });

  test('a second process gets ERR_LOCKED until the owner closes', () => {
    const path = folder.file('locked.nvm');
    const image = NvmImage.open(path, { backend: 'mapped', sizeMaxBytes: 1 << 20 });
    expect(runOpenChild(path, 'mapped')).toEqual({ code: 'ERR_LOCKED' });
    expect(runOpenChild(path, 'emulated')).toEqual({ code: 'ERR_LOCKED' });
    image.close();
    expect(runOpenChild(path, 'mapped')).toEqual({ backend: 'mapped', clean: true });
  });
});

test('without the addon, auto falls back to emulated with one warning line', () => {
  const path = folder.file('fallback.nvm');
  const result = spawnSync(process.execPath, [compiledTestingScript('open-child'), path], {
    env: { ...process.env, STRATA_NVM_ADDON: 'off' },
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  expect(JSON.parse(result.stdout.trim())).toEqual({ backend: 'emulated', clean: true });
  const warnings = result.stderr.split('\n').filter((line) => line.length > 0);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain('emulated backend');
});

function runOpenChild(path: string, backend: string): unknown {
  const result = spawnSync(process.execPath, [compiledTestingScript('open-child'), path, backend], {
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout.trim());
}

/** Collects the child's step lines; after `count` of them, SIGKILLs it and waits for its exit. */
async function readStepsThenKill(child: ChildProcess, count: number): Promise<StepLine[]> {
  const steps: StepLine[] = [];
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_, signal) => resolve(signal)),
  );
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as Partial<StepLine> & { done?: boolean };
    if (parsed.done) throw new Error('the child finished before it was killed');
    if (parsed.step === undefined) continue;
    steps.push(parsed as StepLine);
    if (steps.length === count) child.kill('SIGKILL');
  }
  expect(await exited).toBe('SIGKILL');
  return steps;
}
