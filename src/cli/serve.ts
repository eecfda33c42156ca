/**
 * `shadowvq serve --qmp unix:PATH`: a QMP server for shadowvq's migrations (src/qmp/server.ts) — what
 * libvirt or any VM manager speaks to QEMU — until `quit`, SIGINT or SIGTERM.
 *
 *   shadowvq serve --qmp unix:/tmp/shadowvq.qmp
 *   # then, e.g.:  socat - UNIX-CONNECT:/tmp/shadowvq.qmp
 *   {"execute":"qmp_capabilities"}
 *   {"execute":"migrate","arguments":{"uri":"sim","x-demo":true}}
 *   {"execute":"query-migrate"}
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { QmpServer } from '../qmp/server.js';

const qmpOpt = (v: string): string => {
  const m = /^unix:(.+)$/.exec(v.trim());
  if (m === null) throw new InvalidArgumentError('expected unix:PATH (a Unix socket path)');
  if (Buffer.byteLength(m[1]!) > 107) throw new InvalidArgumentError('the socket path is longer than a Unix socket address allows (107 bytes)');
  return m[1]!;
};

const clientsOpt = (v: string): number => {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1 || Number(v) > 64) throw new InvalidArgumentError('--max-clients must be an integer in 1..64');
  return Number(v);
};

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('a QMP server (QEMU Machine Protocol) on a Unix socket: migrate, migrate_cancel, query-migrate, MIGRATION events … for orchestrators')
    .addOption(new Option('--qmp <unix:PATH>', 'listen on this Unix socket').argParser(qmpOpt).makeOptionMandatory())
    .addOption(new Option('--max-clients <n>', 'clients connected at once').default(8).argParser(clientsOpt))
    .option('--quiet', 'no log lines on stderr')
    .action(async (opts: { qmp: string; maxClients: number; quiet?: boolean }, cmd: Command) => {
      const log = opts.quiet === true ? undefined : (s: string) => process.stderr.write(`${s}\n`);
      const server = new QmpServer({ path: opts.qmp, version: cmd.parent?.version() ?? '0.0.0', maxClients: opts.maxClients, ...(log === undefined ? {} : { log }) });
      try {
        await server.listen();
      } catch (e) {
        process.stderr.write(`shadowvq serve: cannot listen on ${opts.qmp}: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      log?.(`shadowvq serve: QMP on unix:${opts.qmp}`);
      const stop = () => void server.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await server.closed;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // a migration still running finishes before the process exits (its devices are left consistent)
      await server.migration?.done;
      process.exitCode = 0;
    });
}
