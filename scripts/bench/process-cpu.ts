import { readFile, readdir } from 'node:fs/promises'

/** Clock ticks per second in /proc's CPU times: 100 on Linux for every architecture it runs on. */
const ticksPerSecond = 100

/**
 * The CPU time (user and system, in seconds) a process and its descendants have used so far,
 * from /proc (Linux only; NaN elsewhere). Unlike a wall-clock rate, CPU per request hardly
 * changes when other jobs share the machine, so it compares proxies on a busy machine too.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    let ticks = Number(fields[11]) + Number(fields[12]) // utime, stime
    for (const child of await childrenOf(pid)) ticks += (await cpuSeconds(child)) * ticksPerSecond
    return ticks / ticksPerSecond
  } catch {
    return Number.NaN
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`)
  const lists = await Promise.all(tasks.map((task) => readFile(`/proc/${pid}/task/${task}/children`, 'utf8')))
  return lists.flatMap((list) =>
    list
      .split(' ')
      .filter((p) => p !== '')
      .map(Number),
  )
}
