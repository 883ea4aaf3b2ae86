/**
 * An Ollama-compatible HTTP server on loopback that can be switched at run time into the failures a real
 * primary node shows (refused, hung, Cloudflare error pages, broken streams, …). The test bed for the probes
 * and the engine of the demo. See docs/simulator.md.
 */
export { FAULTS, FLAVORS } from './types';
export type { Fault, FaultOptions, FaultScope, SimFlavor, Simulator, SimulatorOptions } from './types';
export { startSimulator } from './server';
export { startSimulatorControl } from './control';
export type { SimulatorControl } from './control';
export { startLoad } from './load';
export type { DraftRecord, LoadGenerator, LoadOptions } from './load';
