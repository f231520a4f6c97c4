/**
 * The one small interface every target implements (PRODUCT.md section 11): apply, revoke, read
 * back, list all. The core drives it through the job queue; adapters live in src/connectors.
 */
export interface AccessRef {
  /** The account in the target: the identity's `account_attribute`, else the identity id. */
  account: string;
  /** The entitlement's target mapping from config, e.g. { role: "analytics_reader" }. */
  target: Record<string, string>;
}

export interface Assignment {
  account: string;
  target: Record<string, string>;
}

export interface Connector {
  readonly name: string;
  readonly type: string;
  /** Idempotent: applying access already present succeeds. */
  apply(ref: AccessRef): Promise<void>;
  /** Idempotent: revoking absent access succeeds. */
  revoke(ref: AccessRef): Promise<void>;
  /** Whether the target holds the access right now. */
  readBack(ref: AccessRef): Promise<boolean>;
  /** Every assignment of the governed targets (those named by `targets`). */
  listAll(targets: Record<string, string>[]): Promise<Assignment[]>;
  close(): Promise<void>;
}

/** Builds a connector from its config; `env` resolves ${VAR} references at the last moment. */
export type ConnectorFactory = (
  config: { name: string; type: string; settings: Record<string, unknown> },
  ctx: { env: NodeJS.ProcessEnv; dataDir: string },
) => Promise<Connector>;

export interface ConnectorSource {
  get(name: string): Promise<Connector>;
}
