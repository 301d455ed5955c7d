import { z } from 'zod';

/**
 * GPU ids as `nvidia-smi -L` shows them: an index or a `GPU-<uuid>`/`MIG-<uuid>`. The `gpus`
 * section names them, and so do the gpu nodes of the `swarm` section (config/swarm.ts).
 */
export const gpuId = z.string().regex(/^(\d+|(GPU|MIG)-[0-9a-fA-F-]+)$/, 'must be a GPU index (0, 1, …) or a GPU-/MIG- UUID');
