/** Prints which copy of the packages this process runs, and the flags its bench children would get. */
import { childNodeFlags, packagesRun } from '../../src/bench/packages.js'

console.log(JSON.stringify({ run: packagesRun(), flags: childNodeFlags() }))
