// Tiers: `unit` (fast, no servers but nginx -t), `live` (real Keycloak, terraform), `e2e` (the
// whole estate on a real Docker engine with a real browser; run through scripts/e2e.sh), `swarm`
// (a real three-node swarm on this machine; run through scripts/swarm/test.sh).
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'] },
    { ...common, displayName: 'live', testMatch: ['<rootDir>/__tests__/live/**/*.live.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/__tests__/e2e/**/*.e2e.ts'] },
    { ...common, displayName: 'swarm', testMatch: ['<rootDir>/__tests__/swarm/**/*.swarm.ts'] },
  ],
};
