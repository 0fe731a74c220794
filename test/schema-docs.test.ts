import { buildSchema, type GraphQLSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isSpecifiedScalarType } from 'graphql';
import { expect, test } from 'vitest';
import { schema } from '../src/graphql/schema.ts';

/**
 * Every element a GraphiQL user can read: named types, output fields and their arguments,
 * input fields and enum values. Introspection types and the built-in scalars are graphql-js's.
 */
function undocumented(schema: GraphQLSchema): string[] {
  const missing: string[] = [];
  const lacks = (description: string | null | undefined) => !description?.trim();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    if (lacks(type.description)) missing.push(`type ${type.name}`);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (lacks(field.description)) missing.push(`field ${type.name}.${field.name}`);
        for (const arg of field.args) if (lacks(arg.description)) missing.push(`arg ${type.name}.${field.name}(${arg.name})`);
      }
    }
    if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) if (lacks(field.description)) missing.push(`input ${type.name}.${field.name}`);
    }
    if (isEnumType(type)) {
      for (const value of type.getValues()) if (lacks(value.description)) missing.push(`enum ${type.name}.${value.name}`);
    }
  }
  return missing;
}

test('every type, field, argument, input field and enum value has a description', () => {
  expect(undocumented(schema)).toEqual([]);
});

test('the walk finds each kind of undocumented element', () => {
  const sample = buildSchema(`
    "Documented."
    type Query { thing(arg: Int, "Documented." ok: Int): Thing, "Documented." other: Int }
    interface Node { id: ID }
    type Thing implements Node { id: ID }
    input Filter { field: String }
    enum Kind { A, "Documented." B }
    scalar Money
    type Mutation { "Documented." change(filter: Filter, kind: Kind, money: Money): Int }
  `);
  expect(undocumented(sample).sort()).toEqual(
    [
      'field Query.thing',
      'arg Query.thing(arg)',
      'type Node',
      'field Node.id',
      'type Thing',
      'field Thing.id',
      'type Filter',
      'input Filter.field',
      'type Kind',
      'enum Kind.A',
      'type Money',
      'type Mutation',
      'arg Mutation.change(filter)',
      'arg Mutation.change(kind)',
      'arg Mutation.change(money)',
    ].sort(),
  );
});
