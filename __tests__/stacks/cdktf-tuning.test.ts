import { App, Fn, Lazy, TerraformStack, TerraformVariable, Token } from 'cdktf';
import { resolve } from 'cdktf/lib/_tokens';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { recordTokenTraces, resolveEveryValue, resolveUnsetAttributes, TOKEN_TRACES_OFF_NOTE, withEachResourceResolvedOnce, withoutUndefined } from '../../stacks/cdktf-tuning';
import { defaultEstate, generatedRosterYaml, rosterFromText } from '../helpers/inputs';
import { synthEstate } from '../helpers/synth';

// Both switches are process-wide: every test leaves cdktf as it found it.
afterEach(() => {
  recordTokenTraces(true);
  resolveUnsetAttributes(true);
  resolveEveryValue(true);
});

function tokenMadeHere(): { creationStack: string[] } {
  return (Lazy.anyValue({ produce: () => 'x' }) as unknown as { creationStack: string[] });
}

describe('cdktf synthesis tuning (what main.ts switches off)', () => {
  it('records token creation stacks only when asked, and says how to ask', () => {
    recordTokenTraces(false);
    expect(tokenMadeHere().creationStack).toEqual([TOKEN_TRACES_OFF_NOTE]);
    recordTokenTraces(true);
    expect(tokenMadeHere().creationStack.join('\n')).toMatch(/tokenMadeHere/);
  });

  it('leaves out unset attributes at any depth, and nothing else', () => {
    const token = Lazy.anyValue({ produce: () => undefined });
    expect(withoutUndefined({ a: 1, b: undefined, c: { d: undefined, e: [{ f: undefined, g: '' }, undefined, null] }, t: token })).toEqual({
      a: 1,
      c: { e: [{ g: '' }, undefined, null] },
      t: token,
    });
  });

  it('does not change a byte of the synthesized estate', () => {
    const estate = defaultEstate();
    const roster = rosterFromText(generatedRosterYaml(3, 'retired:\n  - { username: gone, reason: deleted under CHG-7 }\n'), estate);
    const plain = synthEstate(estate, roster);
    recordTokenTraces(false);
    resolveUnsetAttributes(false);
    resolveEveryValue(false);
    // As main.ts runs it: prepared once, the policy pack, then the files, each resource resolved once.
    let findings: readonly unknown[] = ['not run'];
    const tuned = synthEstate(estate, roster, (app, stacks) => {
      findings = withEachResourceResolvedOnce(app, () => {
        const found = stacks.policy.check(app);
        app.synth();
        return found;
      });
    });
    expect(findings).toEqual([]);
    for (const id of ['platform', 'identity', 'workspaces', 'edge'] as const) expect(JSON.stringify(tuned[id])).toBe(JSON.stringify(plain[id]));
  });

  it('gives back the resolved fragment only inside the window, and restores cdktf afterwards', () => {
    const stack = new TerraformStack(new App(), 'tuning');
    const port = new TerraformVariable(stack, 'port', { type: 'number' });
    const other = new TerraformStack(App.of(stack), 'other');
    const resource = new NullResource(other, 'r', { triggers: { port: Token.asString(port.numberValue) } });
    const before = resource.toTerraform();
    let inside: unknown;
    withEachResourceResolvedOnce(App.of(stack), () => {
      inside = resource.toTerraform();
      expect(resource.toTerraform()).toBe(inside); // resolved once
    });
    // The cross-stack reference was registered while preparing and resolved to the remote state read.
    expect(JSON.stringify(inside)).toMatch(/data\.terraform_remote_state\.cross-stack-reference-input-tuning\.outputs\./);
    expect(JSON.stringify(resource.toTerraform())).toBe(JSON.stringify(before));
  });

  it('resolves tokens of every kind exactly as cdktf does, and copies plain data', () => {
    const stack = new TerraformStack(new App(), 'tuning');
    const names = new TerraformVariable(stack, 'names', { type: 'list(string)' });
    const port = new TerraformVariable(stack, 'port', { type: 'number' });
    const labels = new TerraformVariable(stack, 'labels', { type: 'map(string)' });
    const when = new Date(0);
    const plain = { a: 'x', list: ['y', undefined, 1, true, null], nested: { deep: [{ z: 'model-e5' }] }, gone: undefined, escape: '$${literal}' };
    const input = {
      plain,
      embedded: `prefix-${Token.asString(port.numberValue)}-suffix`,
      lazy: Lazy.stringValue({ produce: () => 'produced' }),
      lazyObject: Lazy.anyValue({ produce: () => ({ inner: Lazy.stringValue({ produce: () => 'deep' }) }) }),
      list: names.listValue,
      elementInArray: [Fn.element(names.listValue, 0), 'plain'],
      number: port.numberValue,
      numbers: [port.numberValue, 2],
      map: labels.value,
      tokenKey: { [`key-${Token.asString(port.numberValue)}`]: 'v' },
      fn: Fn.join(',', names.listValue),
      date: when,
      empty: {},
      emptyList: [],
    };
    resolveEveryValue(true);
    const byCdktf = resolve(stack, input);
    resolveEveryValue(false);
    const tuned = resolve(stack, input);
    expect(tuned).toEqual(byCdktf);
    expect(JSON.stringify(tuned)).toBe(JSON.stringify(byCdktf));
    expect(tuned.plain).toEqual({ a: 'x', list: ['y', 1, true, null], nested: { deep: [{ z: 'model-e5' }] }, escape: '$${literal}' });
    // A copy: cdktf merges resolved fragments into one another, which must not reach the input.
    expect(tuned.plain).not.toBe(plain);
    expect(tuned.plain.nested).not.toBe(plain.nested);
    expect(tuned.embedded).toBe('prefix-${var.port}-suffix');
  });

  it('reports what cdktf reports for values it cannot resolve', () => {
    const stack = new TerraformStack(new App(), 'tuning');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ f: () => 1 }, cyclic, { list: [Token.asList(Lazy.anyValue({ produce: () => ['a'] }))[0] + 'x'] }]) {
      resolveEveryValue(true);
      let expected: unknown;
      try {
        resolve(stack, bad);
      } catch (error) {
        expected = (error as Error).message;
      }
      resolveEveryValue(false);
      expect(() => resolve(stack, bad)).toThrow(expected as string);
    }
  });
});
