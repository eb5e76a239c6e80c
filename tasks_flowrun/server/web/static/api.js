// GraphQL over `POST /`, as every Prefect client does: JSON body, the API key as a bearer token.
import { askKey, forgetKey, getKey } from './auth.js';

export class ApiError extends Error {}

export async function gql(query, variables = {}) {
  for (;;) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch('/', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`The backend answered HTTP ${response.status} without JSON.`);
    }
    const errors = body.errors || [];
    if (errors.some((e) => (e.extensions || {}).code === 'UNAUTHENTICATED')) {
      forgetKey();
      await askKey(Boolean(key));
      continue;
    }
    if (errors.length) throw new ApiError(errors.map((e) => e.message).join('; '));
    return body.data;
  }
}
