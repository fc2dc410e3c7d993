#!/usr/bin/env node
// `attune` admin CLI entry point: runs the TypeScript sources through tsx so that
// `npx attune …` works straight after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
