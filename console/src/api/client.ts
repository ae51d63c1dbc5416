// Queries and mutations: plain fetch of POST /graphql with the session's API key.
import { createStore } from "../lib/store";

const KEY_STORAGE = "chronos.apiKey";

export type ApiErrorKind = "unauthenticated" | "unreachable" | "http" | "graphql";

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function getApiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives for this page only */
  }
}

/** True while the API cannot be reached (network error or a 502/503/504 from a proxy). */
export const apiDown = createStore(false);
/** Set when a request's key was refused (401): the shell returns to the key form. */
export const keyRefused = createStore(0);

export const endpoint = "/graphql";

export async function gql<R, V = Record<string, unknown>>(document: string, variables?: V): Promise<R> {
  const key = getApiKey();
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let response: Response;
  try {
    response = await fetch(endpoint, { method: "POST", headers, body: JSON.stringify({ query: document, variables: variables ?? {} }) });
  } catch (err) {
    apiDown.set(true);
    throw new ApiError("unreachable", `The API cannot be reached (${(err as Error).message}).`);
  }
  if (response.status === 401) {
    apiDown.set(false);
    keyRefused.set(keyRefused.get() + 1);
    throw new ApiError("unauthenticated", await firstMessage(response, "The API key was refused."), "UNAUTHENTICATED", 401);
  }
  if (response.status === 502 || response.status === 504 || (response.status === 503 && !isJson(response))) {
    apiDown.set(true);
    throw new ApiError("unreachable", `The API answered ${response.status}.`, undefined, response.status);
  }
  apiDown.set(false);
  let body: { data?: R | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  try {
    body = await response.json();
  } catch {
    throw new ApiError("http", `The API answered ${response.status} without JSON.`, undefined, response.status);
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError("graphql", body.errors.map((e) => e.message).join("; "), first.extensions?.code, response.status);
  }
  if (!response.ok || body.data == null) throw new ApiError("http", `The API answered ${response.status}.`, undefined, response.status);
  return body.data;
}

function isJson(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").includes("json");
}

async function firstMessage(response: Response, fallback: string): Promise<string> {
  try {
    const body = await response.json();
    return body?.errors?.[0]?.message ?? fallback;
  } catch {
    return fallback;
  }
}

/**
 * GET a file the API serves under a path (an artifact's `downloadUrl`) with the session's key, since a
 * plain link cannot send the Authorization header. Errors carry the API's message and code (its 401
 * and 404 answers are `{errors: [{message, extensions: {code}}]}`).
 */
export async function fetchFile(url: string): Promise<Blob> {
  const key = getApiKey();
  const headers: Record<string, string> = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (err) {
    throw new ApiError("unreachable", `The API cannot be reached (${(err as Error).message}).`);
  }
  if (!response.ok) {
    let message = `The API answered ${response.status}.`;
    let code: string | undefined;
    if (isJson(response)) {
      try {
        const body = await response.json();
        const first = body?.errors?.[0];
        if (first?.message) message = first.message;
        code = first?.extensions?.code;
      } catch {
        /* keep the status line */
      }
    }
    const kind: ApiErrorKind = response.status === 401 ? "unauthenticated" : "http";
    throw new ApiError(kind, message, code ?? (response.status === 401 ? "UNAUTHENTICATED" : response.status === 404 ? "NOT_FOUND" : undefined), response.status);
  }
  return response.blob();
}

/** Hand a blob to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoked after the click has been handled: browsers start the download asynchronously.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
