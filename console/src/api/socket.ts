// Subscriptions over graphql-transport-ws, with the key in connection_init and endless reconnects.
import { createClient, type Client } from "graphql-ws";
import { getApiKey } from "./client";
import { createStore } from "../lib/store";

export type SocketStatus = "idle" | "connecting" | "connected" | "reconnecting" | "refused";
export const socketStatus = createStore<SocketStatus>("idle");

let client: Client | null = null;
let everConnected = false;

function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}/graphql`;
}

export function getSocket(): Client {
  if (client) return client;
  client = createClient({
    url: socketUrl(),
    lazy: true,
    keepAlive: 15_000,
    retryAttempts: Number.MAX_SAFE_INTEGER,
    // Transient closes (network, server restart) are retried; a refused key (4401/4403) is not.
    shouldRetry: (event) => !(isCloseEvent(event) && (event.code === 4401 || event.code === 4403 || event.code === 4400)),
    retryWait: async (retries) => new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** retries, 15_000) * (0.75 + Math.random() / 2))),
    connectionParams: () => {
      const key = getApiKey();
      return key ? { Authorization: `Bearer ${key}` } : {};
    },
    on: {
      connecting: () => socketStatus.set(everConnected ? "reconnecting" : "connecting"),
      connected: () => {
        everConnected = true;
        socketStatus.set("connected");
      },
      closed: (event) => {
        if (isCloseEvent(event) && (event.code === 4401 || event.code === 4403)) socketStatus.set("refused");
        else if (isCloseEvent(event) && event.code === 1000) {
          // Lazy mode closes the socket normally once no subscription is left: nothing is being missed.
          everConnected = false;
          socketStatus.set("idle");
        } else if (socketStatus.get() === "connected") socketStatus.set("reconnecting");
      },
    },
  });
  return client;
}

/** Drop the socket (a new key): the next subscription opens one with the new key. */
export function resetSocket(): void {
  client?.dispose();
  client = null;
  everConnected = false;
  socketStatus.set("idle");
}

function isCloseEvent(value: unknown): value is CloseEvent {
  return typeof value === "object" && value !== null && "code" in value;
}

export interface ResumableHandlers<T> {
  next(value: T): void;
  error(message: string): void;
  complete(): void;
}

/**
 * Subscribe with a `seq`-resumable stream: after a dropped socket graphql-ws sends the subscribe
 * message again, built from this same payload object, so `afterSeq` is kept at the last seq seen
 * and the server resumes after it (nothing is received twice).
 */
export function subscribeResumable<T extends { seq: number }, V extends { afterSeq?: number | null }>(
  query: string,
  variables: V,
  pick: (data: Record<string, unknown>) => T | undefined,
  handlers: ResumableHandlers<T>,
): () => void {
  const payload = { query, variables: { ...variables } };
  return getSocket().subscribe<Record<string, unknown>>(payload, {
    next(result) {
      if (result.errors?.length) {
        handlers.error(result.errors.map((e) => e.message).join("; "));
        return;
      }
      const value = result.data ? pick(result.data) : undefined;
      if (!value) return;
      const last = payload.variables.afterSeq;
      if (last != null && value.seq <= last) return;
      payload.variables.afterSeq = value.seq;
      handlers.next(value);
    },
    error(err) {
      const message = Array.isArray(err)
        ? err.map((e: { message: string }) => e.message).join("; ")
        : isCloseEvent(err)
          ? `The socket closed (${err.code}${err.reason ? `: ${err.reason}` : ""}).`
          : String((err as Error)?.message ?? err);
      handlers.error(message);
    },
    complete: () => handlers.complete(),
  });
}
