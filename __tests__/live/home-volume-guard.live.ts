import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadEstate, loadRoster } from '../../config/load';
import { assetText } from '../helpers/inputs';
import { mustTerraform, recordPlaceholderOutputs, synthStackInto, terraform, terraformEnv } from './terraform';

jest.setTimeout(300_000);

/**
 * The home-volume guard, planned by real terraform with the real providers: the
 * previous apply recorded users with homes; a roster that drops one fails the plan.
 */
describe('home-volume guard in a real plan', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-guard-'));
  const stackDir = path.join(work, 'workspaces');
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(stateDir);
  const estate = loadEstate({ file: 'estate.yaml', text: assetText('estate.yaml') });
  // The sample estate has backups: the workspaces stack declares the agent's two secrets. Fakes (never real ones).
  const env = terraformEnv({ TF_VAR_backup_repository_password: 'fake-backup-password-not-a-secret', TF_VAR_keycloak_db_password: 'fake-db-password-not-a-secret' });
  const rosterText = assetText('roster.yaml');

  /** A state as the previous apply would have left it: the users it recorded. */
  function previousApplyRecorded(users: string[]): void {
    const state = {
      version: 4,
      terraform_version: '1.11.4',
      serial: 1,
      lineage: 'webide-guard-test',
      outputs: { home_volume_users: { value: users, type: ['list', 'string'] } },
      resources: [],
      check_results: null,
    };
    fs.writeFileSync(path.join(stateDir, 'terraform.workspaces.tfstate'), JSON.stringify(state));
  }

  function plan(roster: string) {
    synthStackInto(stackDir, 'workspaces', estate, loadRoster({ file: 'roster.yaml', text: roster }, estate), stateDir);
    // With locking on, as a real plan runs (the lock creates an empty state file on a first deploy).
    return terraform(stackDir, ['plan', '-input=false', '-refresh=false'], env);
  }

  beforeAll(() => {
    // The workspaces stack reads nginx's container id from the platform stack's state.
    const platformDir = path.join(work, 'platform');
    synthStackInto(platformDir, 'platform', estate, loadRoster({ file: 'roster.yaml', text: rosterText }, estate), stateDir);
    recordPlaceholderOutputs(platformDir, path.join(stateDir, 'terraform.platform.tfstate'));
    synthStackInto(stackDir, 'workspaces', estate, loadRoster({ file: 'roster.yaml', text: rosterText }, estate), stateDir);
    mustTerraform(stackDir, ['init', '-input=false'], env);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const withoutBob = rosterText.replace(/  - username: bob\n(    .*\n)+/, '');

  it('fails the plan, naming the user and what to do, when a user with a home vanishes from the roster', () => {
    expect(withoutBob).not.toContain('bob');
    previousApplyRecorded(['alice', 'bob', 'carol', 'dave']);
    const result = plan(withoutBob);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('Users removed from the roster still have home volumes: bob.');
    expect(result.output).toContain('state: archived');
  });

  it('passes when the user is archived instead, or retired on purpose, or on a first deploy', () => {
    previousApplyRecorded(['alice', 'bob', 'carol', 'dave']);
    const archived = plan(rosterText.replace('    name: Bob Lee\n', '    name: Bob Lee\n    state: archived\n'));
    expect(archived.output).not.toContain('Error');
    expect(archived.status).toBe(0);
    const retired = plan(`${withoutBob}retired:\n  - { username: bob, reason: CHG-1234 home deleted after backup }\n`);
    expect(retired.output).not.toContain('Error');
    expect(retired.status).toBe(0);
    fs.rmSync(path.join(stateDir, 'terraform.workspaces.tfstate'));
    const first = plan(withoutBob);
    expect(first.output).not.toContain('Error');
    expect(first.status).toBe(0);
  });
});
