import { E2EEstate, log, rosterYaml, STACKS } from './harness';

/** `bash scripts/e2e.sh down`: destroys what an E2E_KEEP=1 run left, then removes its volumes. */
const estate = new E2EEstate(rosterYaml([{ name: 'alice' }]));
for (const id of [...STACKS].reverse()) {
  try {
    estate.destroy(id);
  } catch (error) {
    log(`destroy ${id}: ${(error as Error).message.slice(0, 500)} (removing by name instead)`);
  }
}
estate.purge();
log('the e2e estate is gone');
