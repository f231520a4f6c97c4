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

/** A ticket Gatehouse opens for a request made elsewhere (outbound, ADR 0037). */
export interface NewTicket {
  /** The Gatehouse request id: the key the ticket is found by before another is created. */
  correlation: string;
  summary: string;
  /** Plain sentences: a Jira ADF description, a ServiceNow description. */
  text: string;
}

export interface OpenedTicket {
  /** `JIRA:ITSM-42`, `SNOW:RITM0010001`. */
  ticket: string;
  /** What updates address: the Jira issue key, the ServiceNow record's sys_id. */
  key: string;
  /** The ticket was there already (an earlier attempt made it and its answer was lost). */
  found: boolean;
}

export interface TicketWriter {
  /**
   * Opens the ticket for a request, exactly once: the system is searched by the correlation key
   * first, and a ticket found there is the answer, so a retry after a lost answer makes no second.
   */
  open(t: NewTicket): Promise<OpenedTicket>;
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
