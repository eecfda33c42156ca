#!/usr/bin/env node
// `shadowvq` as an installed command (package.json "bin"): the CLI is TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
