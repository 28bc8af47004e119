// The components that render a lesson's generated parts from its data loader (docs/steps/NN-*.data.ts).
// Lessons import them on their own page, so other pages do not carry them.
export { default as StepBreakIt } from './StepBreakIt.vue'
export { default as StepCleanup } from './StepCleanup.vue'
export { default as StepDiff } from './StepDiff.vue'
export { default as StepFailures } from './StepFailures.vue'
export { default as StepRun } from './StepRun.vue'
