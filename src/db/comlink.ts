/**
 * comlink for Node's worker_threads: its CommonJS builds (which ship their .d.ts) loaded through
 * createRequire, and the node adapter that turns a MessagePort into a comlink endpoint.
 */
import { createRequire } from 'node:module';
import type { MessagePort } from 'node:worker_threads';
import type * as ComlinkModule from 'comlink';

const require = createRequire(import.meta.url);

export const Comlink = require('comlink') as typeof ComlinkModule;

const nodeEndpoint = require('comlink/dist/umd/node-adapter.js') as (
  port: MessagePort,
) => ComlinkModule.Endpoint;

/** A comlink endpoint over a worker_threads MessagePort. */
export function portEndpoint(port: MessagePort): ComlinkModule.Endpoint {
  return nodeEndpoint(port);
}
