import { z } from 'zod';
import { newId } from '../core/ids.js';
import type { AccessRef, Connector, ConnectorFactory, Pending } from '../core/ports/connector.js';
import { checkDescribedRef, describedTarget, duration, fields } from './schema.js';
import { noListing, parseSettings, unsupported, type ConnectorModule } from './module.js';

/** A task not done within this is overdue, unless the connector sets its own `sla`. */
export const DEFAULT_SLA_SECONDS = 2 * 86400;

const settingsSchema = fields({
  /** The group whose members fulfil this connector's tasks (default: the governance group). */
  fulfillers: z.string().min(1).optional(),
  /** How long a task may stay open before it is overdue. */
  sla: duration.optional(),
  /** Shown to the fulfiller with every task: where and how to make the change. */
  instructions: z.string().optional(),
});

/**
 * A target no program can reach: people make the change. `apply` and `revoke` answer `Pending`
 * with a fresh task id and who fulfils it by when; the core opens the fulfilment task in the
 * job's outcome transaction and the grant waits for a fulfiller's attestation
 * (`gatehouse fulfil`). Nothing can be read back, so `readBack` and `listAll` say so, permanently.
 */
class ManualConnector implements Connector {
  readonly type = 'manual';
  readonly capabilities = manualModule.capabilities;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly s: z.output<typeof settingsSchema>,
  ) {}

  apply(ref: AccessRef): Promise<Pending> {
    return Promise.resolve().then(() => this.task(ref, 'granting'));
  }

  revoke(ref: AccessRef): Promise<Pending> {
    return Promise.resolve().then(() => this.task(ref, 'revoking'));
  }

  readBack(ref: AccessRef): Promise<boolean> {
    return Promise.resolve().then(() => {
      checkDescribedRef(this.name, this.closed, ref, 'reading');
      throw unsupported(this.name, 'read access back: people attest it');
    });
  }

  listAll(): AsyncIterable<never> {
    return noListing(this.name);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private task(ref: AccessRef, what: string): Pending {
    checkDescribedRef(this.name, this.closed, ref, what);
    return {
      pending: true,
      task: newId('tsk'),
      ...(this.s.fulfillers ? { fulfillers: this.s.fulfillers } : {}),
      dueInSeconds: this.s.sla ?? DEFAULT_SLA_SECONDS,
      ...(this.s.instructions ? { instructions: this.s.instructions } : {}),
    };
  }
}

const manualConnector: ConnectorFactory = (config) =>
  Promise.resolve().then(
    () => new ManualConnector(config.name, parseSettings(settingsSchema, config)),
  );

export const manualModule: ConnectorModule = {
  type: 'manual',
  settings: settingsSchema,
  target: describedTarget,
  capabilities: {
    listsAssignments: false,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: true,
  },
  create: manualConnector,
};
