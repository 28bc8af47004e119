/**
 * Flags the lab's clusters (kind and kwok alike) give kube-controller-manager beyond its
 * defaults. The HPA controller syncs every 5 s rather than 15 s, so that step 07's checks and
 * its mutations see an autoscaler act within seconds; behaviour and stabilisation windows are
 * counted in seconds whatever the period, so the step means the same on a default cluster.
 */
export const HPA_SYNC_PERIOD_SECONDS = 5

export const controllerManagerFlags: Record<string, string> = {
  'horizontal-pod-autoscaler-sync-period': `${HPA_SYNC_PERIOD_SECONDS}s`,
}
