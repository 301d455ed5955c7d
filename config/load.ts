import { z } from 'zod';
import { EstateConfig, estateRules, estateSchema, ExtensionConfig, extensionList, extensionRules, vsixFileName } from './estate';
import { asList, asRecord } from './raw';
import { RuleIssue } from './raw';
import { Roster, rosterRules, rosterSchema, rosterShape } from './roster';
import { ConfigError, ConfigIssue, issuesFromRules, issuesFromZod, parseYaml } from './source';
import { placementRules } from './placement';
import { swarmDeployableRules } from './swarm';

export interface InputFile {
  /** Path as the user named it; used in every message. */
  readonly file: string;
  readonly text: string;
}

export interface EstateInputs {
  readonly estate: EstateConfig;
  readonly roster: Roster;
}

/**
 * Validates the estate config and the roster together and reports every issue of
 * both files at once; on the swarm target also what it cannot deploy yet
 * (`swarmDeployableRules`). Pure: the caller reads the files.
 */
export function loadInputs(estateFile: InputFile, rosterFile: InputFile): EstateInputs {
  const issues: ConfigIssue[] = [];
  const estate = collect(issues, () => loadEstate(estateFile));
  // Without a valid estate the caps are unknown: still report every shape error of the roster.
  const roster = collect(issues, () => (estate ? loadRoster(rosterFile, estate) : validate(rosterFile, rosterShape, () => [])));
  if (estate?.swarm && estate.target === 'swarm') {
    const source = parseYaml(estateFile.text, estateFile.file);
    // What the swarm target cannot deploy yet: valid config, refused for synthesis.
    issues.push(...issuesFromRules(source, swarmDeployableRules(source.data)).sort((a, b) => a.line - b.line || a.col - b.col));
    // Where the IDEs land needs both files valid: every overfull ide node, at its ideCapacity.
    if (roster) issues.push(...issuesFromRules(source, placementRules(estate.swarm, (roster as Roster).users)));
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { estate: estate!, roster: roster as Roster };
}

export function loadEstate(input: InputFile): EstateConfig {
  return validate(input, estateSchema, estateRules);
}

export function loadRoster(input: InputFile, estate: EstateConfig): Roster {
  return validate(input, rosterSchema(estate), (raw) => rosterRules(raw, estate));
}

/** An allowed extension with its VSIX file and the sha256 that file must have. */
export type PinnedExtensionConfig = Pick<ExtensionConfig, 'id' | 'version'> & { readonly vsix: string; readonly sha256: string };

/**
 * The `extensions` list of an estate config on its own, validated as in the whole file: what
 * the IDE image build needs (the e2e estate has placeholders elsewhere, which it does not read).
 * Every extension must be pinned here: a `sha256Pending` one is an error, since the image
 * installs nothing whose bytes it cannot check.
 */
export function loadPinnedExtensions(input: InputFile): PinnedExtensionConfig[] {
  const schema = z.looseObject({ extensions: extensionList });
  const rules = (raw: unknown): RuleIssue[] => {
    const extensions = asRecord(raw).extensions;
    const pending = asList(extensions).flatMap((item, index): RuleIssue[] => {
      const ext = asRecord(item);
      return ext.sha256 === undefined && typeof ext.sha256Pending === 'string'
        ? [{ path: ['extensions', index, 'sha256Pending'], message: `the IDE image installs only VSIX files pinned by sha256; fill in sha256 (pending: ${ext.sha256Pending})` }]
        : [];
    });
    return [...extensionRules(extensions), ...pending];
  };
  return validate(input, schema, rules).extensions.map((ext) => ({ id: ext.id, version: ext.version, vsix: vsixFileName(ext), sha256: ext.sha256 as string }));
}

/** Shape errors and rule errors together, in file order, so one run shows every problem. */
function validate<S extends z.ZodType>(input: InputFile, schema: S, rules: (raw: unknown) => RuleIssue[]): z.output<S> {
  const source = parseYaml(input.text, input.file);
  const raw = source.data ?? {};
  const result = schema.safeParse(raw);
  const issues = [
    ...(result.success ? [] : issuesFromZod(source, result.error, schema)),
    ...issuesFromRules(source, rules(raw)),
  ].sort((a, b) => a.line - b.line || a.col - b.col);
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  return result.data;
}

function collect<T>(issues: ConfigIssue[], load: () => T): T | undefined {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      issues.push(...error.issues);
      return undefined;
    }
    throw error;
  }
}
