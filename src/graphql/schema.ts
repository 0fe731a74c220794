import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './common.js';
import './catalog.js';
import './customers.js';
import './subscriptions.js';
import './seats.js';
import './billing.js';
import './clock.js';
import './events.js';
import './webhooks.js';

export const schema = lexicographicSortSchema(builder.toSchema());
