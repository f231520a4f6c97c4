/**
 * How Gatehouse reaches an ITSM system (Jira Service Management, ServiceNow). Adapters live in
 * src/connectors/itsm.ts; the core decides what a ticket is told and drives the calls through the
 * job queue (src/core/itsm/writeback.ts).
 *
 * Failures are `TargetError`s with a `code` and `retryable` (a 5xx, a 429 or a refused connection
 * is retried, honouring `retryAfterSeconds`; a 401, a missing ticket or an unknown transition is
 * not). Their messages never hold a credential.
 */
import type { IntegrationConfig } from '../model.js';

/** One update to a ticket: a note, and the step it moves to (none: stays where it is). */
export interface TicketUpdate {
  /** Plain sentences; the Jira adapter writes them as an ADF comment, ServiceNow as a work note. */
  text: string;
  /** A Jira transition name or a ServiceNow `state` value, as the integration maps it. */
  step?: string;
  /**
   * Stable for this update: an adapter that cannot tell whether an earlier attempt landed (an
   * answer lost on the way back) looks for it on the ticket before writing again.
   */
  marker: string;
}

/** A ticket's state as the system gives it: Jira's status and resolution names, ServiceNow's state value. */
export interface TicketReading {
  status: string;
  resolution?: string;
}

export interface TicketWriter {
  /** `key`: the Jira issue key, the ServiceNow record's sys_id. */
  update(key: string, u: TicketUpdate): Promise<void>;
  /** Reaches the system with the integration's credentials: what works, in sentences. */
  check(): Promise<string[]>;
  /** Where the ticket stands in the system now, as it says it (reconciliation reads it). */
  read(key: string): Promise<TicketReading>;
}

export interface ItsmSource {
  writer(integration: IntegrationConfig): TicketWriter;
  /** The integration's webhook secret, resolved from the environment; undefined where none is set. */
  webhookSecret(integration: IntegrationConfig): string | undefined;
}
