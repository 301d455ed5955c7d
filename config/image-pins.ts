import { isMap, isScalar, parseDocument } from 'yaml';
import { EstateConfig, imageParts } from './estate';
import { SwarmConfig } from './swarm';

/** A key of the estate's `images` section (`nginx`, `codeServer`, …). */
export type ImageKey = keyof EstateConfig['images'];

/** The image of the registry the estate runs (swarm.registry.serve): never pulled from a registry, never pinned into one. */
const RUNS_ITS_OWN_IMAGE: ImageKey = 'registry';

/** The repository prefix of the estate's registry under which `npm run images:pin` stores images. */
const REGISTRY_PREFIX = 'webide';

/** What `npm run images:pin` does with one image of the estate. */
export type PinStep =
  /** Copy the local engine's `source` to `destination` in the estate's registry, then pin its digest. */
  | { readonly kind: 'push'; readonly key: ImageKey; readonly current: string; readonly source: string; readonly destination: string }
  /** Already pinned in the estate's registry: check the registry holds `reference`. */
  | { readonly kind: 'verify'; readonly key: ImageKey; readonly current: string; readonly reference: string }
  /** Cannot be pinned as written; `message` says why and what to do. */
  | { readonly kind: 'refuse'; readonly key: ImageKey; readonly current: string; readonly message: string };

/** `host:port` of the estate's registry, as image references name it. */
export function registryAddress(registry: SwarmConfig['registry']): string {
  return `${registry.host}:${registry.port}`;
}

/**
 * The repository an image gets in the estate's registry: `<registry>/webide/<last path part>`.
 * The registry it came from (a first part with a `.` or `:`, or `localhost`, as Docker reads it) and
 * any namespace are dropped, so the same image keeps one name whoever built or mirrored it.
 */
export function registryRepository(name: string, address: string): string {
  return `${address}/${REGISTRY_PREFIX}/${name.split('/').pop()}`;
}

/**
 * What to do with each image named by `keys` (every image of the section but the registry's own,
 * in file order, when undefined): an image already by digest in the estate's registry is verified; one by tag is pushed
 * from the local engine under the same tag; one by digest elsewhere cannot be read from an engine
 * by that digest, and is refused. Pure.
 */
export function planImagePins(images: EstateConfig['images'], registry: SwarmConfig['registry'], keys?: readonly ImageKey[]): PinStep[] {
  const address = registryAddress(registry);
  const chosen = keys ?? (Object.keys(images) as ImageKey[]).filter((key) => key !== RUNS_ITS_OWN_IMAGE);
  const steps = chosen.flatMap((key): PinStep[] => {
    const current = images[key];
    if (current === undefined) return [];
    if (key === RUNS_ITS_OWN_IMAGE) {
      return [{ kind: 'refuse', key, current, message: "is the registry's own image: its node runs it from that engine's images (a registry cannot pull itself), so it stays as it is" }];
    }
    const parts = imageParts(current);
    if (!parts) throw new Error(`images.${key}: ${JSON.stringify(current)} is not an image reference (validate the estate first)`);
    if (parts.digest && parts.name.startsWith(`${address}/`)) {
      return [{ kind: 'verify', key, current, reference: `${parts.name}@${parts.digest}` }];
    }
    if (!parts.tag) {
      return [{ kind: 'refuse', key, current, message: `pinned by digest outside the estate's registry (${address}): an engine holds images by tag, so name the local image by its tag to push it` }];
    }
    return [{ kind: 'push', key, current, source: `${parts.name}:${parts.tag}`, destination: `${registryRepository(parts.name, address)}:${parts.tag}` }];
  });
  // Two different images must not land on one name (the second push would overwrite the first).
  const sourceOf = new Map<string, string>();
  return steps.map((step) => {
    if (step.kind !== 'push') return step;
    const other = sourceOf.get(step.destination);
    if (other !== undefined && other !== step.source) {
      return { kind: 'refuse', key: step.key, current: step.current, message: `would be pushed as ${step.destination}, as ${other} already is: give the two images different names or tags` };
    }
    sourceOf.set(step.destination, step.source);
    return step;
  });
}

/** The reference an estate pins: the pushed tag and the digest the registry stored (`name:tag@sha256:…`). */
export function pinnedReference(destination: string, digest: string): string {
  const reference = `${destination}@${digest}`;
  if (!imageParts(reference)?.digest) throw new Error(`${JSON.stringify(digest)} is not a sha256 digest (from pushing ${destination})`);
  return reference;
}

/**
 * The estate file's text with `images.<key>` set to each new reference, and every other byte as it
 * was (comments, quoting, order): only each value's own characters are replaced. Throws when a key
 * is not a plain value of the `images` map, or the result does not read back as written. Pure.
 */
export function withPinnedImages(text: string, pins: Readonly<Partial<Record<ImageKey, string>>>): string {
  const doc = parseDocument(text, { keepSourceTokens: true });
  const images = doc.get('images', true);
  if (!isMap(images)) throw new Error('the estate file has no images map');
  const edits = Object.entries(pins).map(([key, reference]) => {
    const node = images.get(key, true);
    if (!isScalar(node) || !node.range) throw new Error(`images.${key} is not a value in the estate file`);
    return { key, reference: reference!, start: node.range[0], end: node.range[1] };
  });
  // From the end of the file backwards, so earlier offsets stay valid.
  const edited = edits
    .sort((a, b) => b.start - a.start)
    .reduce((result, edit) => result.slice(0, edit.start) + edit.reference + result.slice(edit.end), text);
  const reread = parseDocument(edited).toJS() as { images?: Record<string, unknown> };
  for (const edit of edits) {
    if (reread.images?.[edit.key] !== edit.reference) throw new Error(`images.${edit.key} does not read back as ${edit.reference} after the edit`);
  }
  return edited;
}
