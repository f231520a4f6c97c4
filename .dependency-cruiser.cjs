// The layering rule as an allow-list: every import must match one `allowed` rule, so a new
// layer or a new kind of dependency is refused until someone decides where it may point.
// Dependencies point inward: adapters import the core, never the reverse (docs/architecture.md).
const node = { dependencyTypes: ['core'] };
const npm = { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg'] };
const layer = (name, ...to) => ({
  from: { path: `^src/${name}/`, pathNot: '\\.test\\.ts$' },
  to: { path: to.map((l) => `^src/${l}/`) },
});
const packages = (name, pattern) => ({
  from: { path: `^src/${name}/`, pathNot: '\\.test\\.ts$' },
  to: { ...npm, path: pattern },
});

module.exports = {
  allowedSeverity: 'error',
  allowed: [
    // Built-in modules are fine everywhere.
    { from: {}, to: node },
    // The domain core: itself and the policy engine; no drivers, transports, files or adapters.
    layer('core', 'core'),
    packages('core', '^node_modules/@cedar-policy/cedar-wasm/'),
    // Adapters around the core.
    layer('store', 'core', 'store'),
    packages('store', '^node_modules/(pg|pg-[a-z-]+|@electric-sql/pglite)/'),
    layer('connectors', 'core', 'connectors'),
    { from: { path: '^src/connectors/', pathNot: '\\.test\\.ts$' }, to: npm },
    layer('config', 'core', 'config'),
    // Validation checks connector settings and entitlement targets against each connector type's
    // declared schemas (ADR 0007): config may read the one list of types, nothing else there.
    {
      from: { path: '^src/config/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/connectors/modules\\.ts$' },
    },
    { from: { path: '^src/config/', pathNot: '\\.test\\.ts$' }, to: npm },
    // The composition root wires use cases from the core only.
    layer('app', 'core', 'app'),
    layer('http', 'app', 'core', 'http'),
    { from: { path: '^src/http/', pathNot: '\\.test\\.ts$' }, to: npm },
    layer('demo', 'app', 'config', 'connectors', 'core', 'demo'),
    // The outermost edges and the test code may use everything.
    { from: { path: '^src/(cli|testing|bench)/' }, to: {} },
    { from: { path: '^src/v8-flags\\.ts$' }, to: {} },
    { from: { path: '\\.test\\.ts$' }, to: {} },
  ],
  forbidden: [
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
