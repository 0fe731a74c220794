import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './common.ts';
import './catalog.ts';
import './customers.ts';
import './subscriptions.ts';
import './seats.ts';
import './organization.ts';
import './billing.ts';
import './clock.ts';
import './events.ts';
import './webhooks.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
