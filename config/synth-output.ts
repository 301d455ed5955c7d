import * as fs from 'fs';
import * as path from 'path';

/** Where synthesis writes, as cdktf's App resolves it: CDKTF_OUTDIR (set by the cdktf CLI) when not empty, else `cdktf.out`. */
export function synthOutdir(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.CDKTF_OUTDIR || 'cdktf.out');
}

/**
 * The state directory as the synthesized JSON names it. Terraform runs every stack in
 * `<outdir>/stacks/<id>`, so the default (the project root) and a relative STATE_DIR are
 * written relative to that directory: the JSON does not depend on where the repository is
 * checked out. An absolute STATE_DIR is written as given.
 */
export function stateDirForStacks(stateDir: string | undefined, projectRoot: string, outdir: string): string {
  if (stateDir !== undefined && path.isAbsolute(stateDir)) return stateDir;
  const stackDir = path.join(outdir, 'stacks', 'stack');
  return path.relative(stackDir, path.resolve(stateDir ?? projectRoot)).split(path.sep).join('/') || '.';
}

/**
 * After a failed synthesis: removes the manifest and every stack's `cdk.tf.json` in
 * `outdir`, so an older synthesis does not look current (`cdktf diff/deploy` then stop
 * instead of using it). Terraform's working files (`.terraform/`, lock files) stay.
 */
export function removeSynthOutput(outdir: string): void {
  fs.rmSync(path.join(outdir, 'manifest.json'), { force: true });
  const stacks = path.join(outdir, 'stacks');
  if (!fs.existsSync(stacks)) return;
  for (const stack of fs.readdirSync(stacks)) fs.rmSync(path.join(stacks, stack, 'cdk.tf.json'), { force: true });
}
