import * as fs from 'fs';
import * as path from 'path';
import { EstateConfig } from '../../config/estate';
import { loadEstate, loadRoster } from '../../config/load';
import { ConfigError, formatIssue } from '../../config/source';
import { Roster } from '../../config/roster';

export const ASSETS = path.join(__dirname, '..', '..', 'assets');

export function assetText(name: string): string {
  return fs.readFileSync(path.join(ASSETS, name), 'utf8');
}

/** The embedded default estate config, validated. */
/** The sample estate, optionally with its text edited first. */
export function defaultEstate(edit: (text: string) => string = (text) => text): EstateConfig {
  return loadEstate({ file: 'assets/estate.yaml', text: edit(assetText('estate.yaml')) });
}

export function defaultRoster(estate: EstateConfig = defaultEstate()): Roster {
  return loadRoster({ file: 'assets/roster.yaml', text: assetText('roster.yaml') }, estate);
}

export function rosterFromText(text: string, estate: EstateConfig = defaultEstate()): Roster {
  return loadRoster({ file: 'roster.yaml', text }, estate);
}

/** A roster YAML with `count` generated users (user-0001 …), all in `developers`. */
export function generatedRosterYaml(count: number, extra = ''): string {
  const users = Array.from({ length: count }, (_, i) => {
    const name = `user-${String(i + 1).padStart(4, '0')}`;
    return `  - { username: ${name}, email: ${name}@corp.example, name: User ${i + 1}, groups: [developers] }`;
  });
  return `groups:\n  - name: developers\nusers:\n${users.join('\n')}\n${extra}`;
}

/** Drops the top-level `egress:` block (up to the next top-level key or comment) from an estate file. */
export function withoutEgress(text: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('egress:'));
  if (start < 0) return text;
  let end = start + 1;
  while (end < lines.length && (lines[end].startsWith(' ') || lines[end] === '')) end++;
  return [...lines.slice(0, start), ...lines.slice(end)].join('\n');
}

/** Drops the `backup:` block under `operations:` (its lines, up to the next key at its level) from an estate file. */
export function withoutBackup(text: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === '  backup:');
  if (start < 0) return text;
  let end = start + 1;
  while (end < lines.length && lines[end].startsWith('    ')) end++;
  return [...lines.slice(0, start), ...lines.slice(end)].join('\n');
}

/** Every issue `loadEstate` reports for an estate file named estate.yaml, formatted (`file:line:col: path: message`); none for a valid one. */
export function estateErrors(text: string): string[] {
  try {
    loadEstate({ file: 'estate.yaml', text });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map(formatIssue);
  }
}

/**
 * An estate text followed by a config block, the block edited by each [search, replacement]
 * (each must be in it): how the config tests vary one section of a valid estate.
 */
export function estateWithBlock(estate: string, block: string, edits: readonly [string, string][]): string {
  let edited = block;
  for (const [search, replacement] of edits) {
    expect(edited).toContain(search);
    edited = edited.replace(search, replacement);
  }
  return `${estate}\n${edited}`;
}
