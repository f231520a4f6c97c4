import { str } from '../args.js';
import type { Command } from '../command.js';
import { table } from '../format.js';
import { init } from './init.js';
import { intervalOf, portOf, serveOptions, serveUntilStopped } from './serve.js';

export const demo: Command = {
  name: 'demo',
  usage: 'demo [--port 8080] [--interval 30s] [--no-serve]',
  summary: 'create the Acme demo organisation, run requests through every path, and serve',
  options: {
    port: serveOptions.port,
    interval: serveOptions.interval,
    'no-serve': { type: 'boolean' },
  },
  store: false,
  async run(r) {
    await init.run({ ...r, io: { stdout: () => undefined, stderr: r.io.stderr } });
    const data = typeof r.args.values.data === 'string' ? r.args.values.data : undefined;
    const { DEMO_CONFIG, seedDemo } = await import('../../demo/seed.js');
    const { dataDir, openContext } = await import('../context.js');
    const ctx = await openContext(r.env, { ...(data ? { data } : {}), command: 'demo' });
    try {
      const [seeded] = await ctx.store.sql.query(`SELECT 1 FROM meta WHERE key = 'demo_seeded'`);
      const steps = seeded ? [] : await seedDemo(ctx.app, dataDir(r.env, data));
      if (!seeded)
        await ctx.store.sql.query(`INSERT INTO meta (key, value) VALUES ('demo_seeded', $1)`, [
          new Date().toISOString(),
        ]);
      // A demo store offers the demo sign-in (ADR 0015); `init` never marks a store so.
      await ctx.app.sessions.markDemoStore();
      const active = (await ctx.app.report()).grants_by_state.active ?? 0;
      r.io.stdout(
        [
          seeded
            ? `demo organisation already in ${ctx.store.location}`
            : `created the Acme demo organisation in ${ctx.store.location} (config: ${DEMO_CONFIG})`,
          ...(steps.length
            ? ['', table(steps as never[], ['path', 'request', 'status', 'outcome', 'reason'])]
            : []),
          '',
          `${active} grants active and verified in the target database.`,
          'Try, in another terminal while it serves (commands are sent to the running server):',
          ...hints(steps as { request?: string; status?: string }[], str(r.args, 'data')),
        ].join('\n'),
      );
      if (r.args.values['no-serve'] === true) return;
      await serveUntilStopped(
        ctx.app,
        r.io,
        portOf(str(r.args, 'port'), 8080),
        intervalOf(str(r.args, 'interval')),
        r.env.env,
        {
          context: ctx,
          env: r.env,
          dir: dataDir(r.env, data),
        },
      );
    } finally {
      await ctx.close();
    }
  },
};

/** The tour's next commands, runnable as printed: npx, this data directory, a real request id. */
function hints(steps: { request?: string; status?: string }[], data: string | undefined): string[] {
  const at = data ? ` --data ${data}` : '';
  const traced = steps.find((x) => x.status === 'approved')?.request;
  return [
    `  npx gatehouse requests --approver carol@acme.test${at}    what waits on Carol`,
    `  npx gatehouse explain github:admin --for alice@acme.test${at}`,
    `  npx gatehouse grants --identity dan@acme.test${at}`,
    traced
      ? `  npx gatehouse audit trace ${traced}${at}`
      : `  npx gatehouse requests${at}    then: npx gatehouse audit trace REQUEST_ID${at}`,
    `  npx gatehouse report${at}`,
  ];
}
