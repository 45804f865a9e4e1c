// The check layer as a backend sees it: probe, capture and judge a LabView, and measure a session.
import type { Checker } from '../backends/backend.ts';
import { checkMode } from './check.ts';
import { checkFaults } from './faults.ts';
import { measurePerf } from './measure.ts';

export const localChecker: Checker = { check: checkMode, faults: checkFaults, measure: measurePerf };
export { checkMode, measurePerf };
