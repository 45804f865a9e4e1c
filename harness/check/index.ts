// The check layer as a backend sees it: probe, capture and judge a LabView, and measure a session.
import type { Checker } from '../backends/backend.ts';
import { checkMode } from './check.ts';
import { measurePerf } from './measure.ts';

export const localChecker: Checker = { check: checkMode, measure: measurePerf };
export { checkMode, measurePerf };
