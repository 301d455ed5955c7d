import { Lazy } from 'cdktf';
import { recordTokenTraces, resolveUnsetAttributes, TOKEN_TRACES_OFF_NOTE, withoutUndefined } from '../../stacks/cdktf-tuning';
import { defaultEstate, generatedRosterYaml, rosterFromText } from '../helpers/inputs';
import { synthEstate } from '../helpers/synth';

// Both switches are process-wide: every test leaves cdktf as it found it.
afterEach(() => {
  recordTokenTraces(true);
  resolveUnsetAttributes(true);
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
    const tuned = synthEstate(estate, roster);
    for (const id of ['platform', 'identity', 'workspaces', 'edge'] as const) expect(JSON.stringify(tuned[id])).toBe(JSON.stringify(plain[id]));
  });
});
