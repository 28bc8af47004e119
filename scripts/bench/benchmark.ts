/** One figure a benchmark measured. */
export interface Measurement {
  metric: string
  value: number
  unit: string
}

/** A named benchmark `npm run bench` can run. */
export interface Benchmark {
  name: string
  description: string
  run(): Promise<Measurement[]>
}
