// Sums the vitest JSON reports of every package into one closing line: "tests: N passed, N failed".
// Exits non-zero when a test failed, a suite failed to run, or a package that has tests wrote no report.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

let passed = 0
let failed = 0
let skipped = 0
let problems = 0
for (const dir of readdirSync('packages')) {
  const hasTests = existsSync(join('packages', dir, 'test'))
  const report = join('packages', dir, '.vitest-results.json')
  if (!existsSync(report)) {
    if (hasTests) {
      console.log(`${dir}: no test report (its tests did not run)`)
      problems++
    }
    continue
  }
  const result = JSON.parse(readFileSync(report, 'utf8'))
  const suiteErrors = result.testResults.filter(
    (file) => file.status === 'failed' && file.assertionResults.length === 0,
  )
  console.log(
    `${dir}: ${result.numPassedTests} passed, ${result.numFailedTests} failed, ${result.numPendingTests + result.numTodoTests} skipped` +
      (suiteErrors.length ? `, ${suiteErrors.length} files failed to run` : ''),
  )
  passed += result.numPassedTests
  failed += result.numFailedTests
  skipped += result.numPendingTests + result.numTodoTests
  problems += suiteErrors.length
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 || problems > 0 || passed === 0 ? 1 : 0)
