import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { Token } from 'cdktf';
import { Container, ContainerMounts, ContainerUpload } from '../.gen/providers/docker/container';
import { Image } from '../.gen/providers/docker/image';
import { Volume } from '../.gen/providers/docker/volume';
import { CONTAINER_LOG_OPTS, MountableFiles } from './hardened-container';

export interface ManagedFilesProps {
  /** Docker name of the volume (plus a content digest) and of its loader (plus `-loader`). */
  readonly name: string;
  /** An image that is on the Docker host already (the service's own): the loader never runs it. */
  readonly image: Image;
  /** Directory the files live in, in the loader and in every container that mounts them. */
  readonly directory: string;
  /** The files, each under `directory`. Shown in plans as they are: never put a secret here. */
  readonly files: readonly ContainerUpload[];
  /** Labels of the estate and the component the files belong to. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Label that marks a loader: a container that is created to receive files and never starts. */
export const LOADER_LABEL = 'webide.loader';

/**
 * Files the estate writes for a service whose root filesystem is read-only. The docker provider
 * can only upload into a container's root (it copies to `/`, which Docker refuses for a read-only
 * root), so the files go to a volume through a loader: a container of the same image that mounts
 * the volume, receives the uploads, and is never started (`start = false`), so it runs nothing.
 * Services mount the volume read-only: no process in them, root or not, can change the files.
 *
 * The volume's name carries a digest of the files, so a changed file means a new volume, a new
 * loader and new containers mounting it (the replacement that applies the change); the plan shows
 * the files as the loader's `upload` (the change-approval report diffs them).
 */
export class ManagedFiles extends Construct implements MountableFiles {
  public readonly volume: Volume;
  public readonly loader: Container;
  private readonly directory: string;

  constructor(scope: Construct, id: string, props: ManagedFilesProps) {
    super(scope, id);
    const outside = props.files.filter((file) => !file.file.startsWith(`${props.directory}/`));
    if (outside.length > 0) throw new Error(`${props.name}: managed files outside ${props.directory}: ${outside.map((f) => f.file).join(', ')}`);
    this.directory = props.directory;
    const digest = createHash('sha256').update(JSON.stringify(props.files)).digest('hex').slice(0, 12);
    const labels = Object.entries({ ...props.labels, [LOADER_LABEL]: 'true' })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([label, value]) => ({ label, value }));

    this.volume = new Volume(this, 'volume', { name: `${props.name}-${digest}`, labels });
    this.loader = new Container(this, 'loader', {
      name: `${props.name}-loader`,
      image: props.image.imageId,
      // Never started: it exists only so that the provider has a container to upload into.
      start: false,
      mustRun: false,
      networkMode: 'none',
      user: '65534:65534',
      privileged: false,
      capabilities: { drop: ['ALL'] },
      securityOpts: ['no-new-privileges:true'],
      entrypoint: ['/nonexistent-never-started'],
      // Written out: the daemon's defaults read back as drift and would replace it on every plan.
      logDriver: 'json-file',
      logOpts: { ...CONTAINER_LOG_OPTS },
      mounts: [{ type: 'volume', source: this.volume.name, target: props.directory }],
      upload: props.files.map((file) => (file.content === undefined ? file : { ...file, content: terraformLiteral(file.content) })),
      labels,
    });
  }

  /** The read-only mount of the files, for the containers that use them. */
  mount(): ContainerMounts {
    return { type: 'volume', source: this.volume.name, target: this.directory, readOnly: true };
  }
}

/**
 * A file's text as a Terraform string literal: `${` and `%{` start Terraform templates (Squid's
 * log format has `%{…}tg`), so they are escaped as `$${` and `%%{`; Terraform writes the text as
 * given. Text holding a cdktf token (an unresolved reference) is left as it is: the token is meant.
 */
export function terraformLiteral(text: string): string {
  if (Token.isUnresolved(text)) return text;
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}
