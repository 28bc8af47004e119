// Following one request through the logs of a step's pods: the JSON lines every workload writes
// carry the request's id (`reqId`, the x-request-id the frontend, the router and the model server
// pass on), so the lines of every pod that name it, in time order, are the request's path.

/** What one container of one pod printed. */
export interface PodLog {
  namespace: string
  pod: string
  container: string
  text: string
}

/** One log line of the request, with where it came from. */
export interface RequestLine {
  pod: string
  container: string
  service: string
  /** Milliseconds since the epoch, as pino writes `time`. */
  time: number
  /**
   * When the line's part of the request began: for an access line (`request completed`, with its
   * `responseTime`), when the request arrived; for any other line, its time.
   */
  started: number
  msg: string
  fields: Record<string, unknown>
}

/**
 * The lines of every log that name `requestId`, in the order their parts began (a hop's access line
 * where the hop took the request), so the hops come in the order the request went through them;
 * lines that are not JSON are passed over.
 */
export function linesOfRequest(logs: readonly PodLog[], requestId: string): RequestLine[] {
  const lines: RequestLine[] = []
  for (const log of logs) {
    for (const text of log.text.split('\n')) {
      if (!text.startsWith('{')) continue
      let fields: Record<string, unknown>
      try {
        fields = JSON.parse(text) as Record<string, unknown>
      } catch {
        continue
      }
      if (fields.reqId !== requestId) continue
      const time = typeof fields.time === 'number' ? fields.time : 0
      const took = typeof fields.responseTime === 'number' ? fields.responseTime : 0
      lines.push({
        pod: `${log.namespace}/${log.pod}`,
        container: log.container,
        service: typeof fields.service === 'string' ? fields.service : log.container,
        time,
        started: time - took,
        msg: typeof fields.msg === 'string' ? fields.msg : '',
        fields,
      })
    }
  }
  return lines.sort((a, b) => a.started - b.started)
}

/** What a line says beyond its message: the request's method and path, the answer's status and time. */
function details(fields: Record<string, unknown>): string {
  const req = fields.req as { method?: string; url?: string } | undefined
  const res = fields.res as { statusCode?: number } | undefined
  const parts: string[] = []
  if (req?.method) parts.push(`${req.method} ${req.url ?? ''}`)
  if (res?.statusCode !== undefined) parts.push(String(res.statusCode))
  if (typeof fields.responseTime === 'number') parts.push(`${fields.responseTime.toFixed(1)} ms`)
  if (typeof fields.backend === 'string') parts.push(`backend ${fields.backend}`)
  return parts.join('  ')
}

/** One printed line: when its part began, service, pod, message and what the line says of the request. */
export function formatRequestLine(line: RequestLine): string {
  const time = line.time ? new Date(line.started).toISOString().slice(11, 23) : '--:--:--.---'
  return `${time}  ${line.service.padEnd(13)} ${line.pod.padEnd(28)} ${line.msg}  ${details(line.fields)}`.trimEnd()
}
