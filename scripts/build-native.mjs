// Builds the mapped-backend addon (nvm/native) with node-gyp. A failed build is not fatal:
// the NVM image then falls back to the emulated backend and says so in one line when opened.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const gypScript = process.env.npm_config_node_gyp;
const command = gypScript && existsSync(gypScript) ? process.execPath : 'node-gyp';
const args = gypScript && existsSync(gypScript) ? [gypScript, 'rebuild'] : ['rebuild'];
const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
if (result.status !== 0) {
  console.warn('strata-kv: the mapped NVM addon did not build; the emulated backend will be used.');
}
