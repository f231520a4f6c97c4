import type { Command } from '../command.js';
import { auditCheckpoint, auditExport, auditTrace, auditVerify, report } from './audit.js';
import { apply, validate } from './config.js';
import { demo } from './demo.js';
import { grants, grantsCredential, grantsRetry, letExpire, revoke, sweep } from './grants.js';
import { identitiesList, identitiesShow, identitiesSync } from './identities.js';
import { init } from './init.js';
import { approve, cancel, explain, extend, reject, request, requests } from './requests.js';
import { reconcile } from './reconcile.js';
import {
  reviewClose,
  reviewCreate,
  reviewDecide,
  reviewItems,
  reviewList,
  reviewShow,
} from './reviews.js';
import { serve } from './serve.js';
import { fulfil, tasks } from './tasks.js';
import { tokenCreate, tokenList, tokenRevoke } from './tokens.js';
import { integrationsList, integrationsTest } from './integrations.js';

export const COMMANDS: Command[] = [
  init,
  demo,
  serve,
  validate,
  apply,
  identitiesSync,
  identitiesList,
  identitiesShow,
  request,
  explain,
  extend,
  approve,
  reject,
  cancel,
  requests,
  grants,
  grantsRetry,
  grantsCredential,
  revoke,
  letExpire,
  fulfil,
  tasks,
  sweep,
  reconcile,
  reviewCreate,
  reviewList,
  reviewShow,
  reviewItems,
  reviewDecide,
  reviewClose,
  auditVerify,
  auditCheckpoint,
  auditTrace,
  auditExport,
  tokenCreate,
  tokenList,
  tokenRevoke,
  integrationsList,
  integrationsTest,
  report,
];
