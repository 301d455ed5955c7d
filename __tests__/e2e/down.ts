import { E2EEstate, log, rosterYaml } from './harness';

/** `bash scripts/e2e.sh down`: destroys what an E2E_KEEP=1 run left, then removes its volumes. */
const estate = new E2EEstate(rosterYaml([{ name: 'alice' }]));
for (const id of [...estate.stacks].reverse()) {
  try {
    estate.destroy(id);
  } catch (error) {
    log(`destroy ${id}: ${(error as Error).message.slice(0, 500)} (removing by name instead)`);
  }
}
estate.purge();
log('the e2e estate is gone');
