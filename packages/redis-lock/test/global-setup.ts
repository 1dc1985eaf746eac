import { provideServices } from '../../../test-support/services.js'

export default () => provideServices(['postgres', 'redis'])
