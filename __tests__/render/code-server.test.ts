import { parse } from 'yaml';
import * as path from 'path';
import { readInputFile } from '../../config/input-file';
import { loadPinnedExtensions } from '../../config/load';
import { renderContinueConfig, renderExtensionManifest, renderMachineSettings, renderTabbyClientConfig, WorkspaceFilesInput } from '../../render/code-server';
import { ROOT } from '../helpers/run';

const input: WorkspaceFilesInput = {
  extensions: [
    { id: 'TabbyML.vscode-tabby', version: '1.30.0' },
    { id: 'continue.continue', version: '1.2.10' },
  ],
  aiGatewayUrl: 'http://ai-gateway:8081',
  chatModelName: 'qwen2.5-coder-7b-instruct',
};

describe('code-server settings', () => {
  it('turns telemetry, update checks and experiments off', () => {
    const settings = JSON.parse(renderMachineSettings(input));
    expect(settings['telemetry.telemetryLevel']).toBe('off');
    expect(settings['update.mode']).toBe('none');
    expect(settings['extensions.autoUpdate']).toBe(false);
    expect(settings['extensions.autoCheckUpdates']).toBe(false);
    expect(settings['workbench.enableExperiments']).toBe(false);
  });

  it('turns every kind of port forwarding off', () => {
    const settings = JSON.parse(renderMachineSettings(input));
    expect(settings['remote.autoForwardPorts']).toBe(false);
    expect(settings['remote.restoreForwardedPorts']).toBe(false);
    expect(settings['remote.forwardOnOpen']).toBe(false);
  });

  it('allows exactly the allow-listed extensions at their versions, sorted, ids lowercased', () => {
    const settings = JSON.parse(renderMachineSettings(input));
    expect(settings['extensions.allowed']).toEqual({ 'continue.continue': ['1.2.10'], 'tabbyml.vscode-tabby': ['1.30.0'] });
    expect(Object.keys(settings['extensions.allowed'])).toEqual(['continue.continue', 'tabbyml.vscode-tabby']);
  });

  it('does not depend on the order of the allow-list', () => {
    const reversed = { ...input, extensions: [...input.extensions].reverse() };
    expect(renderMachineSettings(reversed)).toBe(renderMachineSettings(input));
  });

  it('points Continue at the AI gateway with the public model name and no real key', () => {
    const config = parse(renderContinueConfig(input));
    expect(config.models).toEqual([
      expect.objectContaining({ provider: 'openai', model: 'qwen2.5-coder-7b-instruct', apiBase: 'http://ai-gateway:8081/v1', apiKey: 'gateway-injected' }),
    ]);
  });

  it("points Tabby's client at the gateway and turns its usage tracking off", () => {
    const toml = renderTabbyClientConfig(input);
    expect(toml).toContain('[server]\nendpoint = "http://ai-gateway:8081/tabby"');
    expect(toml).toContain('[anonymousUsageTracking]\ndisable = true');
  });
});

describe('extension manifest (what the IDE image installs)', () => {
  const pinned = [
    { id: 'TabbyML.vscode-tabby', version: '1.30.0', vsix: 'tabby.vsix', sha256: 'b'.repeat(64) },
    { id: 'continue.continue', version: '1.2.10', vsix: 'continue.continue-1.2.10.vsix', sha256: 'a'.repeat(64) },
  ];

  it('is one tab-separated line per extension, sorted by lowercased id, after a comment', () => {
    expect(renderExtensionManifest(pinned).split('\n')).toEqual([
      expect.stringMatching(/^# webide-estate extension manifest: id, version, sha256, VSIX file/),
      `continue.continue\t1.2.10\t${'a'.repeat(64)}\tcontinue.continue-1.2.10.vsix`,
      `tabbyml.vscode-tabby\t1.30.0\t${'b'.repeat(64)}\ttabby.vsix`,
      '',
    ]);
    expect(renderExtensionManifest([...pinned].reverse())).toBe(renderExtensionManifest(pinned));
  });

  it.each([
    ['these inputs', pinned],
    ['the e2e estate', loadPinnedExtensions(readInputFile(path.join(ROOT, '__tests__/e2e/estate.local.yaml')))],
  ])('names the same id@version set as extensions.allowed (%s)', (_label, extensions) => {
    const allowed = JSON.parse(renderMachineSettings({ ...input, extensions }))['extensions.allowed'] as Record<string, string[]>;
    const installed = renderExtensionManifest(extensions)
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split('\t'));
    expect(installed.map(([id, version]) => [id, [version]])).toEqual(Object.entries(allowed));
    expect(installed.length).toBeGreaterThan(0);
  });
});
