import { stringify } from 'yaml';

export interface AllowedExtension {
  readonly id: string;
  readonly version: string;
}

export interface WorkspaceFilesInput {
  readonly extensions: readonly AllowedExtension[];
  /** Base URL of the AI gateway as seen from an IDE container, e.g. http://ai-gateway:8081. */
  readonly aiGatewayUrl: string;
  readonly chatModelName: string;
}

/**
 * VS Code machine settings. Machine scope outranks the user's own settings, so the
 * controls hold whatever the user sets; the user's settings file is left alone.
 */
export function renderMachineSettings(input: WorkspaceFilesInput): string {
  const allowed = Object.fromEntries(
    [...input.extensions]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((ext) => [ext.id.toLowerCase(), [ext.version]]),
  );
  const settings = {
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'extensions.ignoreRecommendations': true,
    // Only the allow-listed extensions at their exact versions; everything else is refused.
    'extensions.allowed': allowed,
    'workbench.enableExperiments': false,
    'workbench.settings.enableNaturalLanguageSearch': false,
    'security.workspace.trust.enabled': true,
    // No port forwarding of any kind (code-server also runs with --disable-proxy).
    'remote.autoForwardPorts': false,
    'remote.restoreForwardedPorts': false,
    'remote.forwardOnOpen': false,
    'continue.telemetryEnabled': false,
    'tabby.telemetry.disabled': true,
  };
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/** Continue's config: chat and edit through the AI gateway, which holds LiteLLM's key. */
export function renderContinueConfig(input: WorkspaceFilesInput): string {
  const config = {
    name: 'webide',
    version: '1.0.0',
    schema: 'v1',
    models: [
      {
        name: input.chatModelName,
        provider: 'openai',
        model: input.chatModelName,
        apiBase: `${input.aiGatewayUrl}/v1`,
        // The gateway replaces this with the real key; the IDE never sees it.
        apiKey: 'gateway-injected',
        roles: ['chat', 'edit', 'apply'],
      },
    ],
  };
  return `# Managed by webide-estate; rewritten whenever the IDE container is recreated.\n${stringify(config, { lineWidth: 0 })}`;
}

/** Tabby's VS Code client config: completion through the AI gateway. */
export function renderTabbyClientConfig(input: WorkspaceFilesInput): string {
  return [
    '# Managed by webide-estate; rewritten whenever the IDE container is recreated.',
    '[server]',
    `endpoint = "${input.aiGatewayUrl}/tabby"`,
    '',
    '[anonymousUsageTracking]',
    'disable = true',
    '',
  ].join('\n');
}
