import SchemaBuilder from '@pothos/core';
import ZodPlugin from '@pothos/plugin-zod';
import type { Context } from './context.js';
import { zodValidationError } from './common/validation.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: { DateTime: { Input: Date; Output: Date }; SafeInt: { Input: number; Output: number } };
  DefaultInputFieldRequiredness: true;
  DefaultFieldNullability: false;
}>({
  plugins: [ZodPlugin],
  defaultInputFieldRequiredness: true,
  defaultFieldNullability: false,
  zod: { validationError: zodValidationError },
});
