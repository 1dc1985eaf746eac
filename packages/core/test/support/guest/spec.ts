/** What a fixture run of test/guest.test.ts does, passed as JSON in one environment variable. */
export interface FixtureSpec {
  /** The Postgres connections the fixture's global setup declares. */
  readonly need: number
  /** Connections the fixture's test holds at once, for half a second. */
  readonly hold?: number
  /** Leave the tagged table the test creates (the teardown must name it and remove it). */
  readonly leaveTagged?: boolean
  /** Also create this untagged table and leave it (the teardown must name it, and leave it alone). */
  readonly leaveUntagged?: string
}

/** The environment variable that carries the {@link FixtureSpec}. */
export const FIXTURE_ENV = 'GETORCREATE_GUEST_FIXTURE'

/** The spec of this fixture run. */
export function fixtureSpec(): FixtureSpec {
  const text = process.env[FIXTURE_ENV]
  if (!text) throw new Error(`${FIXTURE_ENV} is not set: this fixture runs from test/guest.test.ts only.`)
  return JSON.parse(text) as FixtureSpec
}
