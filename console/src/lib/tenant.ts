// The tenant the console works in: a Fiware-Service and service path, "service:/path" as text.
import { createStore } from "./store";

export interface Tenant {
  service: string;
  servicePath: string;
}

const STORAGE = "chronos.tenant";

/** "service:/path" → tenant; "" → null (the API's default tenant); a bare "service" gets "/". */
export function parseTenant(text: string): Tenant | null {
  const t = text.trim();
  if (!t) return null;
  const i = t.indexOf(":");
  if (i < 0) return { service: t, servicePath: "/" };
  const service = t.slice(0, i).trim();
  const servicePath = t.slice(i + 1).trim() || "/";
  return service ? { service, servicePath } : null;
}

export function formatTenant(t: Tenant | null): string {
  return t ? `${t.service}:${t.servicePath}` : "";
}

function load(): Tenant | null {
  try {
    return parseTenant(sessionStorage.getItem(STORAGE) ?? "");
  } catch {
    return null;
  }
}

export const tenantStore = createStore<Tenant | null>(load());

export function setTenant(t: Tenant | null): void {
  try {
    sessionStorage.setItem(STORAGE, formatTenant(t));
  } catch {
    /* ignore */
  }
  tenantStore.set(t);
}
