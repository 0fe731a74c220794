import { useGraphQlJit } from '@envelop/graphql-jit';
import {
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  getLocation,
  getVariableValues,
  GraphQLError,
  Kind,
  type OperationDefinitionNode,
  OperationTypeNode,
  type SelectionSetNode,
  visit,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../common/logger.ts';

/** Fields selected (fragments counted where spread), beyond which an operation is not compiled. */
const maxCompiledFields = 64;

/**
 * Operations run as code compiled once per document (graphql-jit, through envelop's plugin; yoga's
 * parse cache hands back the same document for the same text, so each is compiled once). The
 * interpreting executor builds an info object, an arguments object and a path for every field of
 * every item: for `customers(ids:)` with balances, a third of what a request allocates.
 *
 * The standard executor runs instead
 * - a document's first run (`interpretedRuns`): compiling costs more than running once, and a
 *   caller sending a new document every time (to make the server compile) gets no compiling;
 * - an operation of more than `maxCompiledFields` fields: compiling costs time per field, and a
 *   large operation would hold the event loop past the stall bound (docs/performance.md);
 * - a document of several operations: the plugin keeps one compiled operation per document, and
 *   would run it whatever operationName asks for;
 * - a subscription: compiled, it loses its arguments;
 * - a request whose variables do not coerce: its errors keep graphql-js's wording, which the
 *   contract errors take the param from (http/errors.ts).
 */
export function useCompiledExecution(logger: Logger, { interpretedRuns = 1 }: { interpretedRuns?: number } = {}): Plugin {
  // Per document: the operation to compile (null when it is not), and how often it has run.
  const documents = new WeakMap<DocumentNode, { operation: OperationDefinitionNode | null; runs: number }>();
  const compiled = new WeakSet<ExecutionArgs>();
  const jit = useGraphQlJit(
    {},
    {
      enableIf: (args) => compiled.has(args),
      // Not expected for a validated document; the operation answers with the errors all the same.
      onError: (result) => logger.warn('an operation could not be compiled', { errors: result.errors?.map((error) => error.message) }),
    },
  ) as Plugin;

  const compiles = ({ schema, document, variableValues }: ExecutionArgs): boolean => {
    let known = documents.get(document);
    if (!known) documents.set(document, (known = { operation: compilableOperation(document), runs: 0 }));
    if (!known.operation || known.runs++ < interpretedRuns) return false;
    return !getVariableValues(schema, known.operation.variableDefinitions ?? [], variableValues ?? {}, { maxErrors: 1 }).errors;
  };

  return {
    ...jit,
    onExecute(payload) {
      if (!compiles(payload.args)) return;
      compiled.add(payload.args);
      void jit.onExecute!(payload);
      return {
        // Compiled errors carry their locations but not their nodes, from which yoga writes the
        // locations of the answer: the nodes are found again in the document.
        onExecuteDone({ result, setResult }) {
          if (!('errors' in result) || !result.errors?.some((error) => !error.nodes && error.locations)) return;
          const fieldAt = fieldsByLocation(payload.args.document);
          const errors = result.errors.map((error) => {
            const node = error.locations?.[0] && fieldAt.get(`${error.locations[0].line}:${error.locations[0].column}`);
            return node && !error.nodes
              ? new GraphQLError(error.message, { nodes: [node], path: error.path, originalError: error.originalError, extensions: error.extensions })
              : error;
          });
          setResult({ ...result, errors });
        },
      };
    },
  };
}

/** The fields of a document by where each starts (`line:column`). */
function fieldsByLocation(document: DocumentNode): Map<string, ASTNode> {
  const fields = new Map<string, ASTNode>();
  const source = document.loc?.source;
  if (!source) return fields;
  visit(document, {
    Field(node) {
      if (!node.loc) return;
      const { line, column } = getLocation(source, node.loc.start);
      fields.set(`${line}:${column}`, node);
    },
  });
  return fields;
}

/** The document's one operation, if it is a query or mutation of at most maxCompiledFields fields. */
function compilableOperation(document: DocumentNode): OperationDefinitionNode | null {
  const [operation, ...others] = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  if (!operation || others.length > 0 || operation.operation === OperationTypeNode.SUBSCRIPTION) return null;
  return withinFields(document, operation, maxCompiledFields) ? operation : null;
}

/** Whether `operation` selects at most `max` fields, fragments counted each time they are spread. */
function withinFields(document: DocumentNode, operation: OperationDefinitionNode, max: number): boolean {
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  // Counting stops at the budget: fragments spread within fragments multiply, and need not be expanded.
  let budget = max;
  const within = (set: SelectionSetNode | undefined): boolean =>
    !set ||
    set.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return --budget >= 0 && within(selection.selectionSet);
      return within(selection.kind === Kind.INLINE_FRAGMENT ? selection.selectionSet : fragments.get(selection.name.value));
    });
  return within(operation.selectionSet);
}
