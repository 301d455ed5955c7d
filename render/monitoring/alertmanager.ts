import { stringify } from 'yaml';

export interface AlertmanagerConfigInput {
  /**
   * Where notifications go: a webhook (Alertmanager POSTs its JSON payload), e.g. the bank's
   * incident tool or a chat bridge. The URL is written into alertmanager.yml, so it must not
   * carry a secret: give a token with webhookBearerTokenFile.
   * @default - none: alerts are only shown by Alertmanager (its API and UI) and sent nowhere
   */
  readonly webhookUrl?: string;
  /** A file (in Alertmanager's container) holding a bearer token sent with each webhook call. @default - none */
  readonly webhookBearerTokenFile?: string;
  /** How long a new group waits for more alerts before the first notification. @default 30 (seconds) */
  readonly groupWaitSeconds?: number;
  /** How long a group waits before notifying about alerts added to it. @default 5 (minutes) */
  readonly groupIntervalMinutes?: number;
  /** How often an alert that is still firing is sent again. @default 4 (hours) */
  readonly repeatIntervalHours?: number;
}

/** The receiver name when there is no webhook: a receiver with no integrations. */
export const NULL_RECEIVER = 'null';
export const WEBHOOK_RECEIVER = 'webhook';

function whole(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`monitoring: ${what} must be a whole number >= 1, got ${value}`);
  return value;
}

/**
 * alertmanager.yml: one route, grouped by alert name and job, to the webhook when one is
 * given and to a receiver that sends nothing otherwise. Pure.
 */
export function renderAlertmanagerConfig(input: AlertmanagerConfigInput = {}): string {
  if (input.webhookUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(input.webhookUrl);
    } catch {
      throw new Error(`monitoring: webhookUrl '${input.webhookUrl}' is not a URL (e.g. https://incidents.bank.example/hooks/webide)`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`monitoring: webhookUrl must be http(s), got '${url.protocol}'`);
    if (url.username !== '' || url.password !== '') {
      throw new Error('monitoring: webhookUrl carries credentials (user:password@); give the token with webhookBearerTokenFile instead');
    }
  } else if (input.webhookBearerTokenFile !== undefined) {
    throw new Error('monitoring: webhookBearerTokenFile is set but webhookUrl is not; set both or neither');
  }
  const receiver = input.webhookUrl === undefined ? NULL_RECEIVER : WEBHOOK_RECEIVER;
  const config = {
    route: {
      receiver,
      group_by: ['alertname', 'job'],
      group_wait: `${whole('groupWaitSeconds', input.groupWaitSeconds ?? 30)}s`,
      group_interval: `${whole('groupIntervalMinutes', input.groupIntervalMinutes ?? 5)}m`,
      repeat_interval: `${whole('repeatIntervalHours', input.repeatIntervalHours ?? 4)}h`,
    },
    receivers: [
      input.webhookUrl === undefined
        ? { name: NULL_RECEIVER }
        : {
            name: WEBHOOK_RECEIVER,
            webhook_configs: [
              {
                url: input.webhookUrl,
                send_resolved: true,
                ...(input.webhookBearerTokenFile === undefined
                  ? {}
                  : { http_config: { authorization: { type: 'Bearer', credentials_file: input.webhookBearerTokenFile } } }),
              },
            ],
          },
    ],
  };
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.\n${stringify(config, { sortMapEntries: false, lineWidth: 0 })}`;
}
