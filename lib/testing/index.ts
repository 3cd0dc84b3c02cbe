// nestjs-cache-memoize/testing: the conformance suite every built-in store passes against a real
// server, for people writing their own store.
export { storeConformance, type ConformanceTestApi, type StoreUnderTest } from './store-conformance';
