import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ZodPlugin from '@pothos/plugin-zod';
import NodeIdsPlugin from './node-ids.ts';
import type { Context } from '../types.ts';
import { decodeGlobalId } from '../common/relay.ts';
import { zodValidationError } from '../common/validation.ts';

const cursorUse = 'pass it as `after` (with first) to read the items after it, or as `before` (with last) to read those before it.';

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: { DateTime: { Input: Date; Output: Date }; SafeInt: { Input: number; Output: number } };
  DefaultInputFieldRequiredness: true;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
}>({
  plugins: [RelayPlugin, ZodPlugin, NodeIdsPlugin],
  defaultInputFieldRequiredness: true,
  defaultFieldNullability: false,
  zod: { validationError: zodValidationError },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Public ids already name their type by their prefix (cus_, sev_, …) and are unique across
    // types: they are the global ids, unchanged (src/common/relay.ts).
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => decodeGlobalId(globalID),
    // node and nodes are declared in src/common/schema.ts, with descriptions, rules and the
    // treatment of ids of no known type.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    nodeTypeOptions: {
      description:
        "An object with a global id, which node(id:) and nodes(ids:) fetch it again by, and which Relay and urql's graphcache normalise their caches on. The global id is the object's own id: its prefix names its type (cus_ Customer, sbal_ SeatBalance (made of its customer's id and its feature code), feat_ Feature, plan_ Plan, sub_ PlanSubscription, sev_ SeatEvent, chg_ SeatCharge, we_ WebhookEndpoint, msg_ WebhookDelivery).",
    },
    idFieldOptions: { description: "The object's id, unique across every type: pass it to node(id:) to fetch the object again." },
    pageInfoTypeOptions: {
      description: 'Where a page lies in its list: whether items come before and after it, and the cursors of its first and last items to page on from.',
    },
    hasNextPageFieldOptions: {
      description:
        'True when items follow this page in the list: pass endCursor as `after` (with first) to read them. Paging backwards (last), true whenever `before` was given.',
    },
    hasPreviousPageFieldOptions: {
      description:
        'True when items come before this page in the list: pass startCursor as `before` (with last) to read them. Paging forwards (first), true whenever `after` was given.',
    },
    startCursorFieldOptions: {
      description: "The cursor of the page's first item, to pass as `before` (with last) for the page before it; null when the page is empty.",
    },
    endCursorFieldOptions: {
      description: "The cursor of the page's last item, to pass as `after` (with first) for the page after it; null when the page is empty.",
    },
    pageInfoFieldOptions: { description: 'Where this page lies in the list, and the cursors to page on from its ends.' },
    cursorFieldOptions: { description: `Opaque; ${cursorUse}` },
    edgesFieldOptions: { nullable: { list: false, items: false } },
    nodeFieldOptions: { nullable: false },
  },
});
