// The three floors of src/ (README, Layout), as rules `npm run lint` enforces. From the ground up:
//   base:    src/common/, src/config.ts and db/prepared.ts (SQL helpers): import nothing of ours above them
//   model:   src/model/ (entities, tenant, the records the API shows): imports the base only
//   db:      src/db/ (the ORM, migrations, the embedded PostgreSQL): imports the model and the base
//   domains: catalog, customers, subscriptions, seats, billing, events, webhooks, clock, auth, organizations,
//            idempotency, ratelimits: the floors below, and never one another
//   flows:   src/flows/: cross domains; never the doors
//   doors:   src/graphql/, src/rest/, src/http/ and the files at src/'s top: anything
const domains = 'auth|billing|catalog|clock|customers|events|idempotency|organizations|ratelimits|seats|subscriptions|webhooks';
const base = '^src/(common/|config\\.ts$|db/prepared\\.ts$)';
const model = '^src/model/';
const flows = '^src/flows/';
const doors = '^src/(graphql|rest|http)/|^src/(?!config\\.ts$)[^/]+\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: the files cannot be understood, tested or loaded one without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-domain-to-domain',
      severity: 'error',
      comment: 'A domain imports the model, db/ and common/, never another domain: work that crosses domains is a flow (src/flows/).',
      from: { path: `^src/(${domains})/` },
      to: { path: `^src/(${domains})/`, pathNot: '^src/$1/' },
    },
    {
      name: 'base-stays-down',
      severity: 'error',
      comment: 'common/, config.ts and db/prepared.ts are the ground everything stands on: they import nothing of ours but each other.',
      from: { path: base },
      to: { path: '^src/', pathNot: base },
    },
    {
      name: 'model-stays-down',
      severity: 'error',
      comment: 'The model (entities, the tenant, records) imports only the base.',
      from: { path: model },
      to: { path: '^src/', pathNot: `${base}|${model}` },
    },
    {
      name: 'db-below-domains',
      severity: 'error',
      comment: 'db/ holds the ORM and migrations: it knows the model, not the domains, flows or doors.',
      from: { path: '^src/db/' },
      to: { path: `^src/(${domains})/|${flows}|${doors}` },
    },
    {
      name: 'domains-below-flows-and-doors',
      severity: 'error',
      comment: 'A domain never reaches up: flows and doors call domains, not the other way round.',
      from: { path: `^src/(${domains})/` },
      to: { path: `${flows}|${doors}` },
    },
    {
      name: 'flows-below-doors',
      severity: 'error',
      comment: 'Flows compose domains; the doors (GraphQL, REST, HTTP, app and server) call flows.',
      from: { path: flows },
      to: { path: doors },
    },
    {
      name: 'no-tests-in-src',
      severity: 'error',
      comment: 'src/ never imports test/ or bench/.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|test|bench)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
