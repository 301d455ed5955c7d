import { stringify } from 'yaml';

export interface AllowedExtension {
  readonly id: string;
  readonly version: string;
}

/** An allowed extension pinned to the bytes of its VSIX file (what the IDE image installs). */
export interface PinnedExtension extends AllowedExtension {
  /** The VSIX file's name in the directory the image is built from. */
  readonly vsix: string;
  /** sha256 of that file, 64 lowercase hex digits. */
  readonly sha256: string;
}

/** Extensions by lowercased id: the one order every rendered list uses. */
function byId<T extends AllowedExtension>(extensions: readonly T[]): T[] {
  const key = (ext: T) => ext.id.toLowerCase();
  return [...extensions].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
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
  const allowed = Object.fromEntries(byId(input.extensions).map((ext) => [ext.id.toLowerCase(), [ext.version]]));
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

/**
 * The IDE image's extension manifest (images/ide/install-extensions.sh reads it): a comment,
 * then one line per extension, `<id> <version> <sha256> <vsix file>` separated by tabs,
 * sorted by id, ids lowercased as in `extensions.allowed`. The image installs exactly these.
 */
export function renderExtensionManifest(extensions: readonly PinnedExtension[]): string {
  const lines = byId(extensions).map((ext) => [ext.id.toLowerCase(), ext.version, ext.sha256, ext.vsix].join('\t'));
  return ['# webide-estate extension manifest: id, version, sha256, VSIX file (tab-separated). Generated from the estate config.', ...lines, ''].join('\n');
}
