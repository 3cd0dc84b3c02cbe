import { readFileSync } from 'node:fs';
import { serversFile, type SharedServers } from './global-setup';

/** Addresses of the servers started by globalSetup. */
export function sharedServers(): SharedServers {
  return JSON.parse(readFileSync(serversFile(), 'utf8')) as SharedServers;
}

let seq = 0;
/** A key prefix unique to this test, so suites sharing a server never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `t${process.pid}x${Date.now().toString(36)}x${seq++}${name}`;
}
