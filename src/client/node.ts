import { dirname, join } from 'node:path';
import { writeReportFile } from './drop-folder';
import type { ClientPlatform } from './platform';
import { fileStateSource } from './state-file';

/** The Node build's platform: the environment, the daemon's state file and its drop folder. */
export const nodePlatform: ClientPlatform = {
  build: 'node',
  env: () => process.env,
  files: {
    stateSource: fileStateSource,
    writeReport: writeReportFile,
    reportDirFor: (stateFile) => join(dirname(stateFile), 'reports'),
  },
};
