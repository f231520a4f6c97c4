import type { Command } from './command.js';

/** Help is read in a terminal: nothing wider than this. */
export const HELP_WIDTH = 100;

/** What each option means, once: an option means the same in every command that takes it. */
const OPTION_HELP: Record<string, string> = {
  data: 'Embedded store directory (default ./.gatehouse); DATABASE_URL selects a server instead.',
  json: 'Print one JSON document on stdout and nothing else there.',
  as: 'The identity on whose behalf you act; recorded with via: cli (it is not a login).',
  now: "The engine's clock, for simulation stores only (created with init --simulation).",
  help: 'Show this help.',
  for: 'The identity who would hold the access.',
  duration: 'How long the access lasts from verified activation (8h, 30d), or "standing".',
  reason: 'Why the access is needed (or why it is revoked); recorded in the audit trail.',
  ticket: 'An ITSM ticket reference, SYSTEM:KEY (e.g. JIRA:ITSM-42).',
  emergency: "Break-glass: granted at once, capped hard, reviewed afterwards (if it's allowed).",
  comment: 'A note recorded with the approval; a rejection needs one.',
  status: 'Only requests in this status (pending_approval, approved, rejected, cancelled, lapsed).',
  approver: 'Only what waits on this person: requests whose current stage they may approve.',
  identity: 'Only grants held by this identity.',
  app: 'Only grants of this application.',
  state: 'Only grants in this state (provisioning, active, revoking, revoked, failed, …).',
  scopes: 'What the token may do, comma-separated (API.md lists the scopes).',
  expires: 'How long the token lives (default 90d).',
  'expiring-within': 'Only active grants that expire within this duration, soonest first.',
  limit: 'Page size, 1 to 1000 (default 100).',
  cursor: 'Start after this cursor: the next_cursor a previous page printed.',
  kinds: 'Identity kinds this snapshot is authoritative for (default: the kinds it contains).',
  'allow-mass-leave': 'Apply a snapshot that would make more than 20 % of identities leavers.',
  'dry-run': 'Show what would change, and the grants it would no longer permit; write nothing.',
  simulation: 'Create a simulation store, whose clock --now may move.',
  port: 'TCP port to listen on (default 8080).',
  'metrics-allow':
    'Addresses or CIDR blocks whose scrapers may read /metrics without a token (comma-separated).',
  interval: 'How often the background jobs run (default 30s, at most 24d).',
  'no-serve': 'Build the demo and exit instead of serving it.',
  checkpoint: 'Also prove nothing was cut or rewritten since this signed checkpoint file.',
  out: 'Write the checkpoint to this file (never overwritten) as well as printing it.',
  since: 'Only events at or after this time (ISO 8601).',
};

/** Where an option means something else in one command, that command's own sentence. */
const OPTION_HELP_IN: Record<string, Record<string, string>> = {
  cancel: { comment: 'Why the request is withdrawn; recorded in the audit trail.' },
  'token create': {
    identity: 'The identity the token acts as; a non-human one needs an active owner.',
  },
  fulfil: { comment: 'What was done, or why it could not be; a failed task needs one.' },
  tasks: {
    fulfiller: 'Only open tasks this person may fulfil (a member of their fulfilling group).',
    state: 'Only tasks in this state: open (default), done, failed, cancelled, or all.',
    overdue: "Only open tasks past their due time (the connector's sla).",
  },
  reconcile: {
    'dry-run': 'Compare and print the findings; record, remediate and adopt nothing.',
  },
  'review create': {
    name: 'What the campaign is called, as reviewers will see it.',
    scope: 'Which active grants to review: key=value terms, all must hold (app=erp,risk=high).',
    due: 'When undecided items take the default: a date (2026-06-30) or an ISO 8601 instant.',
    reviewer: 'Who reviews each item: manager (default), app_owner, owner or group:NAME.',
    default: 'What undecided items become at close or the due date: revoke (default) or certify.',
  },
  'review items': { reviewer: 'Only the undecided items waiting on this person.' },
  'review decide': {
    expires: "A certification's new expiry (date or instant), within the entitlement's maximum.",
    comment: 'Why you decided so; recorded with the decision in the audit trail.',
  },
};

/** One or two examples per command, each a line that works as printed in the demo. */
const EXAMPLES: Record<string, string[]> = {
  init: ['gatehouse init --simulation --data ./sim'],
  demo: ['gatehouse demo', 'gatehouse demo --no-serve --data /tmp/acme'],
  serve: [
    'gatehouse serve --port 8080 --interval 30s',
    'gatehouse serve --metrics-allow 127.0.0.1,10.0.0.0/8',
  ],
  validate: ['gatehouse validate ./governance'],
  apply: ['gatehouse apply ./governance --dry-run', 'gatehouse apply ./governance'],
  'identities sync': ['gatehouse identities sync hr-export.csv --kinds human'],
  'identities list': ['gatehouse identities list --limit 50'],
  'identities show': ['gatehouse identities show bob@acme.test'],
  request: [
    'gatehouse request analytics:writer --for bob@acme.test --reason "Q3 model" --as bob@acme.test',
  ],
  explain: ['gatehouse explain github:write --for bob@acme.test'],
  extend: [
    'gatehouse extend grt_… --duration 30d --reason "project runs to March" --as bob@acme.test',
  ],
  approve: ['gatehouse approve req_… --comment "ok for Q3" --as carol@acme.test'],
  reject: ['gatehouse reject req_… --comment "use analytics:reader" --as carol@acme.test'],
  cancel: ['gatehouse cancel req_… --comment "no longer needed" --as bob@acme.test'],
  requests: ['gatehouse requests --approver carol@acme.test', 'gatehouse requests --status lapsed'],
  grants: ['gatehouse grants --identity bob@acme.test', 'gatehouse grants --expiring-within 7d'],
  'grants retry': ['gatehouse grants retry grt_… --as carol@acme.test'],
  'grants credential': ['gatehouse grants credential grt_… --as alice@acme.test'],
  revoke: ['gatehouse revoke grt_… --reason "left the project" --as bob@acme.test'],
  'let-expire': ['gatehouse let-expire grt_… --as bob@acme.test'],
  fulfil: [
    'gatehouse fulfil tsk_… done --comment "badge reader updated" --as sam@acme.test',
    'gatehouse fulfil tsk_… failed --comment "no such door" --as sam@acme.test',
  ],
  tasks: ['gatehouse tasks --fulfiller sam@acme.test', 'gatehouse tasks --overdue'],
  sweep: ['gatehouse sweep'],
  reconcile: ['gatehouse reconcile --dry-run', 'gatehouse reconcile acme-db --as carol@acme.test'],
  'audit verify': ['gatehouse audit verify', 'gatehouse audit verify --checkpoint head.json'],
  'audit checkpoint': ['GATEHOUSE_CHECKPOINT_KEY="$(cat key.pem)" gatehouse audit checkpoint'],
  'audit trace': ['gatehouse audit trace req_…'],
  'audit export': ['gatehouse audit export --since 2026-01-01T00:00:00Z > events.jsonl'],
  'review create': [
    'gatehouse review create --name "ERP Q2" --scope app=erp --due 2026-06-30 --as gina@acme.test',
  ],
  'review list': ['gatehouse review list'],
  'review show': ['gatehouse review show rev_…'],
  'review items': ['gatehouse review items --reviewer carol@acme.test'],
  'review decide': [
    'gatehouse review decide itm_… certify --expires 2026-09-30 --as carol@acme.test',
    'gatehouse review decide itm_… revoke --comment "moved team" --as carol@acme.test',
  ],
  'review close': ['gatehouse review close rev_… --as gina@acme.test'],
  report: ['gatehouse report', 'gatehouse report --json'],
  'token create': [
    'gatehouse token create --identity svc:ci-deployer --scopes read,request --expires 30d',
  ],
  'token list': ['gatehouse token list'],
  'token revoke': ['gatehouse token revoke tok_… --as sam@acme.test'],
  'integrations list': ['gatehouse integrations list'],
  'integrations test': ['gatehouse integrations test jira'],
};

const GLOBAL = ['data', 'json', 'as', 'now'];

/** Words wrapped to the width, every line after the first indented by `indent`. */
export function wrap(text: string, width: number, indent = 0): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const room = width - (lines.length === 0 ? 0 : indent);
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}

function optionLines(names: string[], spec: Command['options'], command?: string): string[] {
  const label = (n: string) => `--${n}${spec?.[n]?.type === 'boolean' ? '' : ' VALUE'}`;
  const col = Math.max(...names.map((n) => label(n).length)) + 4;
  return names.flatMap((n) => {
    const text = (command && OPTION_HELP_IN[command]?.[n]) || OPTION_HELP[n] || '';
    const first = `  ${label(n).padEnd(col - 2)}`;
    return wrap(text, HELP_WIDTH - first.length).map((l, i) =>
      i === 0 ? first + l : ' '.repeat(first.length) + l,
    );
  });
}

/** `gatehouse COMMAND --help`: usage, what it does, each option with a sentence, examples. */
export function commandHelp(c: Command): string {
  const own = Object.keys(c.options ?? {});
  const examples = EXAMPLES[c.name] ?? [];
  return [
    ...wrap(`usage: gatehouse ${c.usage}`, HELP_WIDTH, 6),
    '',
    ...wrap(c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.', HELP_WIDTH),
    ...(own.length ? ['', 'Options:', ...optionLines(own, c.options, c.name)] : []),
    '',
    'Global options:',
    ...optionLines(GLOBAL, { json: { type: 'boolean' } }),
    ...(examples.length
      ? ['', examples.length > 1 ? 'Examples:' : 'Example:', ...examples.map((e) => `  ${e}`)]
      : []),
  ].join('\n');
}

/** `gatehouse --help`: every command with one line on what it does. */
export function overview(commands: Command[]): string {
  const col = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'gatehouse — access governance control plane',
    '',
    'usage: gatehouse COMMAND [options]',
    '',
    'Commands:',
    ...commands.flatMap((c) =>
      wrap(c.summary, HELP_WIDTH - col - 2).map((l, i) =>
        i === 0 ? `  ${c.name.padEnd(col)}${l}` : ' '.repeat(col + 2) + l,
      ),
    ),
    '',
    'Global options:',
    ...optionLines(GLOBAL, { json: { type: 'boolean' } }),
    '',
    ...wrap(
      'DATABASE_URL selects a PostgreSQL server instead of the embedded store. Exit codes: 0 done, 1 input error, 2 refused, 3 internal or target failure. Run gatehouse COMMAND --help for its options and an example.',
      HELP_WIDTH,
    ),
  ].join('\n');
}

/** Help that documents every option and has an example: the test holds every command to it. */
export function helpGaps(c: Command): string[] {
  const gaps = Object.keys(c.options ?? {})
    .filter((n) => !OPTION_HELP_IN[c.name]?.[n] && !OPTION_HELP[n])
    .map((n) => `--${n} has no description`);
  if (!EXAMPLES[c.name]?.length) gaps.push('no example');
  return gaps;
}
