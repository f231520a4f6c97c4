import { InputError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const init: Command = {
  name: 'init',
  usage: 'init [--simulation]',
  summary: 'create the store and run migrations; --simulation lets --now move the clock',
  options: { simulation: { type: 'boolean' } },
  store: false,
  async run(r) {
    // Loaded on use: `gatehouse --help` should not pay for the store's drivers.
    const { openStore } = await import('../../store/open.js');
    const { dataDir } = await import('../context.js');
    const store = await openStore({
      dataDir: dataDir(r.env, r.args.values.data as string | undefined),
      databaseUrl: r.env.env.DATABASE_URL,
      command: 'init',
    });
    try {
      const wanted = r.args.values.simulation === true;
      const [existing] = await store.sql.query<{ value: string }>(
        `SELECT value FROM meta WHERE key = 'simulation'`,
      );
      if (existing && (existing.value === 'true') !== wanted) {
        throw new InputError(
          `the store at ${store.location} already exists as a ${existing.value === 'true' ? 'simulation' : 'production'} store; a store's kind is fixed when it is created`,
        );
      }
      if (!existing) {
        await store.sql.query(
          `INSERT INTO meta (key, value) VALUES ('simulation', $1), ('created_at', $2)`,
          [String(wanted), new Date().toISOString()],
        );
      }
      const kind = wanted ? 'simulation' : 'production';
      return {
        json: { store: store.location, kind: store.kind, simulation: wanted },
        text: `${existing ? 'store ready' : 'created'}: ${store.location} (${store.kind}, ${kind})`,
      };
    } finally {
      await store.close();
    }
  },
};
