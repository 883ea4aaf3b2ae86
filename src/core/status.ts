/** The one status union: a node's verdict in the core, the state file, metrics, history and the client. */
export const NODE_STATUSES = ['up', 'degraded', 'down', 'unknown'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
