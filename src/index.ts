/**
 * llm-sentinel as a library: `require('llm-sentinel')` or `import … from 'llm-sentinel'`.
 *
 *   const { loadConfig, startMonitor } = require('llm-sentinel');
 *   const monitor = await startMonitor({ config: loadConfig('/etc/llm-sentinel/config.yaml') });
 *   monitor.events.on('preferred:changed', (e) => console.log(`apps now use ${e.to}`));
 *   console.log(monitor.state?.preferred);
 *   await monitor.stop();
 *
 * Apps that only need the preferred endpoint import the light client instead: 'llm-sentinel/client'.
 * docs/api.md documents this surface; everything not exported here is internal and may change.
 */
export { ConfigError, EXIT_CONFIG, loadConfig, parseConfig, type Config, type NodeConfig } from './config';
export { MonitorStartError, startMonitor, type Monitor, type MonitorOptions } from './app/monitor';
export type { DaemonEmitter, DaemonEvents } from './daemon/events';
export { createLogger, silentLogger, type Logger } from './logging';
export { REASONS, REASON_INFO, type Reason, type ReasonInfo } from './core/reasons';
export { NODE_STATUSES, type NodeStatus } from './core/status';
export type { PublishedState, PublishedNode, PublishedEndpoint } from './state/types';
export { packageVersion } from './version';
