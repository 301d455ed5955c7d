// Two tiers: `unit` (fast, no servers but nginx -t) and `live` (real Keycloak, terraform).
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'] },
    { ...common, displayName: 'live', testMatch: ['<rootDir>/__tests__/live/**/*.live.ts'] },
  ],
};
