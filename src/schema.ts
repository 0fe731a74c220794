import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './common/schema.js';
import './catalog/schema.js';
import './customers/schema.js';
import './subscriptions/schema.js';
import './seats/schema.js';
import './billing/schema.js';
import './clock/schema.js';
import './events/schema.js';
import './webhooks/schema.js';

export const schema = lexicographicSortSchema(builder.toSchema());
