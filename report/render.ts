import { createTwoFilesPatch } from 'diff';
import { exitCodeOf, FileChange, PlanReport, StackSummary } from './analyse';

export interface AppliedSuppressionLine {
  readonly rule: string;
  readonly path: string;
  readonly reason: string;
}

/** The change-approval report as Markdown, for someone who does not read Terraform. */
export function renderReportMarkdown(report: PlanReport, suppressions: readonly AppliedSuppressionLine[]): string {
  const lines: string[] = ['# Change-approval report', ''];
  const code = exitCodeOf(report);
  const headline = {
    0: '**No changes.**',
    1: `**Incomplete: ${report.unplanned.length} stack(s) could not be planned (see "Not planned"); do not approve on this report alone.**`,
    2: '**Changes, none of them flagged as risky.**',
    3: `**${report.risks.length} flagged risk(s): a second approver is required.**`,
  }[code];
  lines.push(headline, '');

  lines.push('## Summary', '', '| stack | add | change | replace | destroy | note |', '|---|---:|---:|---:|---:|---|');
  const part = report.workspaces;
  const row = ({ stack, counts, note, notPlanned }: StackSummary, label = stack) => {
    if (notPlanned !== undefined) lines.push(`| ${label} | – | – | – | – | **not planned**: ${escapeCell(notPlanned)} |`);
    else lines.push(`| ${label} | ${counts.create} | ${counts.update} | ${counts.replace} | ${counts.delete} | ${escapeCell(note ?? '')} |`);
  };
  for (const summary of report.summary) {
    if (!part || !part.stacks.includes(summary.stack)) {
      row(summary);
      continue;
    }
    // The workspaces stack and its shard stacks as one row, where the first of them is; below it
    // only those with something to say.
    if (summary.stack !== part.stacks[0]) continue;
    const members = report.summary.filter((s) => part.stacks.includes(s.stack));
    const quiet = members.filter((s) => s.notPlanned === undefined && s.note === undefined && Object.values(s.counts).every((n) => n === 0));
    const shards = part.stacks.filter((stack) => stack !== 'workspaces').length;
    const notes = [
      `${part.stacks.includes('workspaces') ? 'the roster-wide stack and ' : ''}${shards} shard stack(s)`,
      ...(quiet.length > 0 ? [`${quiet.length} of them without changes`] : []),
      ...(part.notPlanned.length > 0 ? [`**not planned**: ${part.notPlanned.join(', ')}`] : []),
    ];
    row({ stack: 'workspaces', counts: part.counts, note: notes.join('; ') }, '**workspaces (all)**');
    for (const member of members) if (!quiet.includes(member)) row(member, `↳ ${member.stack}`);
  }
  lines.push('');
  if (part && part.users.length > 0) {
    lines.push('### Workspaces by user', '', '| user | stack | add | change | replace | destroy |', '|---|---|---:|---:|---:|---:|');
    for (const { username, stack, counts } of part.users) lines.push(`| ${username} | ${stack} | ${counts.create} | ${counts.update} | ${counts.replace} | ${counts.delete} |`);
    lines.push('');
  }

  if (report.unplanned.length > 0) {
    lines.push('## Not planned', '');
    for (const { stack, reason, creates } of report.unplanned) {
      lines.push(`### ${stack}`, '', `Why: ${reason}`, '');
      if (creates) {
        lines.push(`It has no state yet: its first apply creates all ${creates.length} resource(s) it declares:`, '');
        lines.push(...creates.map((address) => `* \`${address}\``), '');
      }
    }
  }

  lines.push('## Risks', '');
  if (report.risks.length === 0) lines.push('None flagged.');
  else {
    lines.push('| category | stack | resource | what |', '|---|---|---|---|');
    for (const r of report.risks) lines.push(`| ${r.category} | ${r.stack} | \`${r.address}\` | ${escapeCell(r.message)} |`);
  }
  lines.push('');

  lines.push('## People', '');
  if (report.people.length === 0) lines.push('No access changes.');
  else {
    lines.push('| user | change | detail |', '|---|---|---|');
    for (const p of report.people) lines.push(`| ${p.username} | ${p.change} | ${escapeCell(p.detail)} |`);
  }
  lines.push('');

  lines.push('## Rendered files', '');
  if (report.files.length === 0) lines.push('No rendered file changes.');
  // The same change in many containers (every IDE gets the same settings) is shown once.
  const groups = new Map<string, FileChange[]>();
  for (const f of report.files) {
    const key = JSON.stringify([f.file, f.sensitive, f.before, f.after]);
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  for (const [, same] of groups) {
    const f = same[0];
    const where = same.length === 1 ? `${f.stack}: \`${f.address}\`` : `${same.length} containers in ${[...new Set(same.map((s) => s.stack))].join(', ')}`;
    lines.push(`### \`${f.file}\` (${where})`, '');
    if (f.sensitive) {
      lines.push('Content is sensitive (Terraform marked it); not shown.', '');
      continue;
    }
    const patch = createTwoFilesPatch(f.before === undefined ? '/dev/null' : `a${f.file}`, f.after === undefined ? '/dev/null' : `b${f.file}`, f.before ?? '', f.after ?? '', '', '', { context: 3 });
    // Drop the "=====" separator line the library puts first.
    lines.push('```diff', patch.split('\n').slice(1).join('\n').trimEnd(), '```', '');
  }

  lines.push('## Policy suppressions in force', '');
  if (suppressions.length === 0) lines.push('None.');
  else {
    lines.push('| rule | resource | reason |', '|---|---|---|');
    for (const s of suppressions) lines.push(`| ${s.rule} | \`${s.path}\` | ${escapeCell(s.reason)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The same report for tools, with the exit code it implies. */
export function renderReportJson(report: PlanReport, suppressions: readonly AppliedSuppressionLine[]): string {
  return `${JSON.stringify({ exitCode: exitCodeOf(report), ...report, suppressions }, null, 2)}\n`;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
