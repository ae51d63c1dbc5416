import { useState } from "preact/hooks";
import { ApiError, fetchFile, saveBlob } from "../api/client";

/**
 * A training job's file: a link to its `downloadUrl` that fetches it with the session's key and saves
 * the body (a plain link would not send the Authorization header), showing why when that fails.
 */
export function ArtifactLink({ name, url }: { name: string; url: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function download(e: MouseEvent) {
    // Modified clicks (new tab/window) keep the plain link: it works on a server without keys.
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      saveBlob(await fetchFile(url), name);
    } catch (err) {
      const code = err instanceof ApiError && err.code ? `${err.code}: ` : "";
      setError(`Download failed: ${code}${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <a href={url} download={name} onClick={download} data-testid="artifact-download" data-url={url} aria-busy={busy}>
        {busy ? "downloading…" : "download"}
      </a>
      {error && (
        <div class="error small" role="alert" data-testid="artifact-error">
          {error}
        </div>
      )}
    </>
  );
}
