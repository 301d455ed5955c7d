import { imageDigest, imageReference } from '../../config/estate';
import { attributesOf, Compliance, PolicyRule } from '../rule';

export const imagesPinned: PolicyRule = {
  id: 'WEBIDE-I1',
  summary: 'Images are pinned: a tag that is not latest everywhere, a digest in the production profile.',
  fix: 'Pin the image in the estate config as name:tag@sha256:<digest> (the digest your registry mirror recorded).',
  check: (node, context) => {
    const image = attributesOf(node, 'docker_image');
    if (!image) return Compliance.NOT_APPLICABLE;
    const name = String(image.name);
    if (!imageReference.safeParse(name).success) return Compliance.NON_COMPLIANT;
    if (context.profile === 'production' && !imageDigest(name)) return Compliance.NON_COMPLIANT;
    return Compliance.COMPLIANT;
  },
};
