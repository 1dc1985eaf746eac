import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Run a TypeScript worker in a new Node process (workspace packages resolved to their sources) and return
 * its stdout; rejects with its stderr when it exits non-zero.
 */
export function runWorker(script: URL, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@getorcreate/source', '--import', 'tsx', fileURLToPath(script), ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: process.env,
      },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`worker ${script.pathname} exited with ${code ?? signal}:\n${err}`))
    })
  })
}
