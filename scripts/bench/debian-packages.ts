import { exec, hasProgram } from '../lib/exec.ts'

/**
 * Makes sure a program the benchmarks compare against is installed: when it is missing and this
 * process runs as root on a machine with apt-get, installs its Debian package. Resolves whether
 * the program is there afterwards; otherwise says what to install, and the caller skips its rows.
 */
export async function ensureDebianProgram(program: string, debianPackage = program): Promise<boolean> {
  if (await hasProgram(program)) return true
  const root = process.getuid?.() === 0
  if (!root || !(await hasProgram('apt-get'))) {
    console.log(`  ${program} is not installed and can only be installed as root: 'apt-get install ${debianPackage}'`)
    return false
  }
  console.log(`  installing Debian's ${debianPackage} (apt-get install ${debianPackage})`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () => exec('apt-get', ['install', '-y', '--no-install-recommends', debianPackage], { env })
  try {
    await install().catch(async () => {
      // A fresh machine's package lists may be missing or stale.
      await exec('apt-get', ['update'], { env })
      await install()
    })
  } catch (error) {
    console.log(`  could not install ${debianPackage}: ${(error as Error).message.split('\n')[0]}`)
  }
  return hasProgram(program)
}
