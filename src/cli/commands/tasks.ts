import { InputError } from '../../core/errors.js';
import type { TaskView } from '../../core/tasks/view.js';
import { PAGE_OPTIONS, PAGE_USAGE, pageArgs, positional, str } from '../args.js';
import { type Command, actor } from '../command.js';
import { paged, table } from '../format.js';

/** Tasks as a table, overdue ones marked, each with what to do. */
function formatTasks(tasks: TaskView[]): string {
  const rows = tasks.map((t) => ({
    ...t,
    due: `${t.due_at}${t.overdue ? ' OVERDUE' : ''}`,
    change: `${t.op} ${t.account} → ${Object.entries(t.target)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  }));
  return table(rows, ['id', 'state', 'change', 'fulfillers', 'due', 'grant', 'connector']);
}

export const fulfil: Command = {
  name: 'fulfil',
  usage: 'fulfil TASK done|failed [--comment TEXT] --as ID',
  summary:
    "close a manual connector's fulfilment task as a member of its fulfilling group (attested, not verified)",
  options: { comment: { type: 'string' } },
  async run(r) {
    const task = positional(r.args, 1, 'TASK: the fulfilment task (tsk_…)');
    const outcome = positional(r.args, 2, 'done or failed: what became of the change');
    if (outcome !== 'done' && outcome !== 'failed')
      throw new InputError(`fulfil: the outcome is done or failed, not "${outcome}"`, {
        code: 'invalid_outcome',
        field: 'outcome',
      });
    const t = await r.app.fulfil(
      task,
      actor(r, 'fulfil'),
      outcome,
      str(r.args, 'comment') ?? '',
      'cli',
    );
    return { json: t, text: formatTasks([t]) };
  },
};

export const tasks: Command = {
  name: 'tasks',
  usage: `tasks [--fulfiller ID] [--state open|done|failed|cancelled|all] [--overdue] ${PAGE_USAGE}`,
  summary:
    "manual connectors' fulfilment tasks, soonest due first; --fulfiller: what waits on them",
  options: {
    fulfiller: { type: 'string' },
    state: { type: 'string' },
    overdue: { type: 'boolean' },
    ...PAGE_OPTIONS,
  },
  async run(r) {
    const fulfiller = str(r.args, 'fulfiller');
    const state = str(r.args, 'state');
    const page = await r.app.tasks(
      {
        ...(fulfiller ? { fulfiller } : {}),
        ...(state ? { state } : {}),
        ...(r.args.values.overdue === true ? { overdue: true } : {}),
      },
      pageArgs(r.args),
    );
    return {
      json: page,
      text: paged(formatTasks(page.tasks), page.tasks.length, page.next_cursor),
    };
  },
};
