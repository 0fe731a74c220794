import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';

/**
 * Answers the `id` of every Node type straight from the type's own id resolver. The relay plugin
 * wraps it in an async encoder, so each object of a list became a promise for graphql-js to
 * await: a third of the CPU of `customers(ids:) { id }` over 100 ids. Encoding is the identity
 * here (src/builder.ts: the public ids are the global ids), so the wrapper adds nothing else.
 */
class NodeIdsPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (fieldConfig.kind !== 'Object' || fieldConfig.name !== 'id') return resolver;
    const nodeOptions = this.buildCache.getTypeConfig(fieldConfig.parentType).pothosOptions as {
      id?: { resolve?: GraphQLFieldResolver<unknown, Types['Context'], object> };
    };
    return nodeOptions.id?.resolve ?? resolver;
  }
}

const pluginName = 'nodeIds';
SchemaBuilder.registerPlugin(pluginName, NodeIdsPlugin);
export default pluginName;

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      nodeIds: NodeIdsPlugin<Types>;
    }
  }
}
