export type NodeStatus = 'up' | 'degraded' | 'down' | 'unknown';
