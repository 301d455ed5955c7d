import { IConstruct } from 'constructs';
import { Annotations, IAspect, TerraformResource, TerraformStack } from 'cdktf';
import { Compliance, PolicyContext, PolicyRule, resolvedTerraform, withResolvedTerraformShared } from './rule';

export interface Suppression {
  readonly rule: string;
  /**
   * Construct path, or a prefix of it in whole segments, e.g. `platform/vllm`; `*` matches any
   * characters within one segment, e.g. `workspaces-*` for every workspace shard stack.
   */
  readonly resource: string;
  readonly reason: string;
}

/** Whether a suppression's `resource` covers the construct at `path` (see Suppression). */
export function suppressionCovers(resource: string, path: string): boolean {
  const wanted = resource.split('/');
  const segments = path.split('/');
  if (wanted.length > segments.length) return false;
  return wanted.every((pattern, i) => {
    if (!pattern.includes('*')) return pattern === segments[i];
    const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    return regex.test(segments[i]);
  });
}

export interface EstatePolicyPackProps {
  readonly rules: readonly PolicyRule[];
  readonly context: Omit<PolicyContext, 'internalNetworks'>;
  readonly suppressions: readonly Suppression[];
}

/** A suppression that took effect, for the plan report. */
export interface AppliedSuppression extends Suppression {
  readonly path: string;
}

/** A violation that no suppression waives. */
export interface PolicyFinding {
  /** Construct path of the resource, e.g. `platform/nginx-image`. */
  readonly path: string;
  readonly rule: string;
  readonly summary: string;
  readonly fix: string;
}

/** `[<path>] [<rule id>] <summary> Fix: <fix>`: one line per finding. */
export function formatFinding(finding: PolicyFinding): string {
  return `[${finding.path}] [${finding.rule}] ${finding.summary} Fix: ${finding.fix}`;
}

/**
 * Applies the estate's rules to every resource (cdk-nag style). A violation is an
 * error annotation, which stops `cdktf synth`, naming the rule, the resource path and
 * the fix. A matching suppression turns it into a warning that carries its reason.
 */
export class EstatePolicyPack implements IAspect {
  public readonly applied: AppliedSuppression[] = [];
  /** Violations found so far (see `check`). */
  public readonly findings: PolicyFinding[] = [];
  private readonly internalNetworksByStack = new WeakMap<TerraformStack, Set<string>>();
  /** Each resource is judged once, whether `check` or synthesis gets to it first. */
  private readonly visited = new WeakSet<IConstruct>();

  constructor(private readonly props: EstatePolicyPackProps) {}

  /**
   * Applies the pack to every resource under `scope` now and returns the violations,
   * so a caller can refuse before synthesis writes any file (cdktf's CLI has synthesis
   * write every stack even when one carries an error annotation).
   */
  check(scope: IConstruct): readonly PolicyFinding[] {
    for (const node of scope.node.findAll()) this.visit(node);
    return this.findings;
  }

  visit(node: IConstruct): void {
    if (!TerraformResource.isTerraformResource(node) || this.visited.has(node)) return;
    this.visited.add(node);
    const context: PolicyContext = { ...this.props.context, internalNetworks: this.internalNetworks(TerraformStack.of(node)) };
    const verdicts = withResolvedTerraformShared(() => this.props.rules.map((rule) => [rule, rule.check(node, context)] as const));
    for (const [rule, verdict] of verdicts) {
      if (verdict !== Compliance.NON_COMPLIANT) continue;
      const path = node.node.path;
      const suppression = this.props.suppressions.find((s) => s.rule === rule.id && suppressionCovers(s.resource, path));
      if (suppression) {
        this.applied.push({ ...suppression, path });
        Annotations.of(node).addWarning(`[${rule.id}] suppressed: ${rule.summary} Reason: ${suppression.reason}`);
      } else {
        this.findings.push({ path, rule: rule.id, summary: rule.summary, fix: rule.fix });
        Annotations.of(node).addError(`[${rule.id}] ${rule.summary} Fix: ${rule.fix}`);
      }
    }
  }

  /** The stack's internal networks by name and by id, as tokens resolve them in container and service attributes. */
  private internalNetworks(stack: TerraformStack): Set<string> {
    let references = this.internalNetworksByStack.get(stack);
    if (!references) {
      references = new Set<string>();
      for (const child of stack.node.findAll()) {
        if (TerraformResource.isTerraformResource(child) && child.terraformResourceType === 'docker_network') {
          const body = Object.values(resolvedTerraform(child).resource.docker_network)[0] as Record<string, unknown>;
          if (body.internal !== true) continue;
          const address = `${child.terraformResourceType}.${stack.getLogicalId(child)}`;
          references.add(`\${${address}.name}`);
          references.add(`\${${address}.id}`);
        }
      }
      this.internalNetworksByStack.set(stack, references);
    }
    return references;
  }
}
