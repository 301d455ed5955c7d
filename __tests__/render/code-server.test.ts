import { parse } from 'yaml';
import { renderContinueConfig, renderMachineSettings, renderTabbyClientConfig, WorkspaceFilesInput } from '../../render/code-server';

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
