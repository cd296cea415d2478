import type { ComponentChildren } from 'preact';
import { ApiFailure } from '../api.js';

/** An API error placed on a form: by its field (`path`'s first segment) when the form has that field. */
export interface FormError {
  field: string | null;
  code: string;
  message: string;
}

export function toFormError(e: unknown, fields: string[]): FormError {
  if (e instanceof ApiFailure) {
    const top = e.path?.split('.')[0] ?? '';
    return { field: fields.includes(top) ? top : null, code: e.code, message: e.message };
  }
  return { field: null, code: 'network', message: (e as Error).message };
}

/** A labelled input with the API's error for that field right beside it. */
export function Field(props: { id: string; name: string; label: string; error: FormError | null; children: ComponentChildren }) {
  const mine = props.error && props.error.field === props.name ? props.error : null;
  return (
    <div class={`field ${mine ? 'has-error' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {mine && (
        <span class="field-error" role="alert" data-field={props.name}>
          {mine.code}: {mine.message}
        </span>
      )}
    </div>
  );
}

/** The error of a form that belongs to no field of it. */
export function FormLevelError({ error }: { error: FormError | null }) {
  if (!error || error.field) return null;
  return (
    <p class="form-error" role="alert">
      {error.code}: {error.message}
    </p>
  );
}
