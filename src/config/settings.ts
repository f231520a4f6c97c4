import { DEFAULT_SETTINGS, RISK_TIERS, type Settings } from '../core/model.js';
import { referencesIn, refusedReference } from '../core/secrets.js';
import { DEFAULT_SESSION_SECONDS } from '../core/sessions/sessions.js';
import { noteChain, type LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { settingsFile } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { checkSecrets } from './secrets.js';
import type { NotificationSettings } from '../core/model.js';
import type { SettingsFile } from './schemas.js';
import { formatPath, validate } from './zod-issues.js';

function defaults(): Settings {
  return structuredClone(DEFAULT_SETTINGS);
}

/** gatehouse.yaml; a missing file or field takes DEFAULT_SETTINGS, a chain per tier at a time. */
export function loadSettings(file: ConfigFile | undefined, ctx: LoadContext): Settings {
  if (!file) {
    ctx.refs.fallbackGroup = {
      name: DEFAULT_SETTINGS.fallbackGroup,
      place: { file: 'gatehouse.yaml', line: 0 },
      label: 'approval.fallback_group',
      explicit: false,
    };
    return defaults();
  }
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  const y = validate(src, settingsFile, ctx.issues, {});
  if (!y) return defaults();
  const s = defaults();
  s.approvalTimeout = y.approval?.timeout ?? s.approvalTimeout;
  s.fallbackGroup = y.approval?.fallback_group ?? s.fallbackGroup;
  s.authenticatedOnly = y.approval?.authenticated_only ?? s.authenticatedOnly;
  for (const tier of RISK_TIERS) {
    const chain = y.approval?.chains?.[tier];
    if (!chain) continue;
    s.chains[tier] = chain;
    noteChain(ctx, src, ['approval', 'chains', tier], chain);
  }
  s.emergencyMaxDuration = y.emergency?.max_duration ?? s.emergencyMaxDuration;
  s.emergencyReviewWithin = y.emergency?.review_within ?? s.emergencyReviewWithin;
  s.revocationSla = y.revocation_sla ?? s.revocationSla;
  s.mover = y.mover ?? s.mover;
  // Largest first, each once: the order written in the file does not matter.
  if (y.expiry_reminders)
    s.expiryReminders = [...new Set(y.expiry_reminders)].sort((a, b) => b - a);
  if (y.secrets?.env_allow) ctx.envAllow = y.secrets.env_allow;
  if (y.oidc) {
    s.oidc = {
      issuer: y.oidc.issuer,
      clientId: y.oidc.client_id,
      clientSecret: y.oidc.client_secret,
      identityClaim: y.oidc.identity_claim,
      ...(y.oidc.redirect_uri ? { redirectUri: y.oidc.redirect_uri } : {}),
    };
    for (const name of referencesIn(y.oidc.client_secret)) {
      const refused = refusedReference(name, ctx.envAllow);
      if (refused)
        ctx.issues.error(
          src.place(['oidc', 'client_secret']),
          `oidc.client_secret: refers to ${refused}`,
        );
    }
  }
  if (y.sessions) {
    s.sessions = {
      lifetime: y.sessions.lifetime ?? DEFAULT_SESSION_SECONDS,
      scopes: { audit: y.sessions.scopes?.audit ?? [], admin: y.sessions.scopes?.admin ?? [] },
    };
    for (const scope of ['audit', 'admin'] as const)
      (y.sessions.scopes?.[scope] ?? []).forEach((group, i) =>
        ctx.refs.rules.push({
          name: `group:${group}`,
          place: src.place(['sessions', 'scopes', scope, i]),
          label: `sessions.scopes.${scope}[${i}]`,
        }),
      );
  }
  if (y.notifications) s.notifications = loadNotifications(y.notifications, src, ctx);
  const explicit = y.approval?.fallback_group !== undefined;
  ctx.refs.fallbackGroup = {
    name: s.fallbackGroup,
    place: explicit ? src.place(['approval', 'fallback_group']) : { file: file.rel, line: 0 },
    label: 'approval.fallback_group',
    explicit,
  };
  return s;
}

/**
 * `notifications:`. Secrets only by ${VAR} reference: an SMTP URL's password, and the whole chat
 * webhook URL (a Slack-style incoming webhook carries its credential in the path).
 */
function loadNotifications(
  n: NonNullable<SettingsFile['notifications']>,
  src: YamlSource,
  ctx: LoadContext,
): NotificationSettings {
  const at = ['notifications'];
  checkSecrets(n, src, at, ctx.issues);
  const refs: [string[], string][] = [];
  if (n.email) refs.push([[...at, 'email', 'smtp_url'], n.email.smtp_url]);
  if (n.chat) {
    const path = [...at, 'chat', 'webhook_url'];
    refs.push([path, n.chat.webhook_url]);
    if (!/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(n.chat.webhook_url.trim()))
      ctx.issues.error(
        src.place(path),
        `${formatPath(path)}: a webhook URL holds its credential; use a reference such as \${CHAT_WEBHOOK_URL}`,
      );
  }
  for (const [path, value] of refs)
    for (const name of referencesIn(value)) {
      const refused = refusedReference(name, ctx.envAllow);
      if (refused) ctx.issues.error(src.place(path), `${formatPath(path)}: refers to ${refused}`);
    }
  return {
    ...(n.email
      ? {
          email: {
            smtpUrl: n.email.smtp_url,
            from: n.email.from,
            ...(n.email.address_attribute ? { addressAttribute: n.email.address_attribute } : {}),
          },
        }
      : {}),
    ...(n.chat ? { chat: { webhookUrl: n.chat.webhook_url } } : {}),
    digestSeconds: n.digest ?? 0,
  };
}
